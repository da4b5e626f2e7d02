"""The built-in metrics plugin: customer-service metrics over the core record kinds, computed in SQL
per employee and period, and the per-employee metrics that departments supply (QC, supervisors, task
systems). It registers the metrics of its sibling modules too — tickets (helpdesk vocabulary),
contact_centre (calls, surveys, QC), commerce (chats and orders), property (fees, violations) — so
one plugin name (`service-metrics`) turns them all on or off."""

from __future__ import annotations

from sqlalchemy import and_, func, or_

from kpi.core import hookimpl
from kpi.core.metrics import Count, MetricDefinition, Ratio
from kpi.core.models import Metric

from . import commerce, contact_centre, tickets
from . import property as property_metrics

HOUR = 3600


def _late(priority_is_urgent: bool, hours: int):
    """A ticket not resolved within `hours` of creation. An open ticket counts as late once the
    period has ended more than `hours` after it was created."""

    def where(t, w):
        urgent = t.c.priority == "urgent"
        kind = urgent if priority_is_urgent else or_(t.c.priority.is_(None), t.c.priority != "urgent")
        return and_(kind, func.coalesce(t.c.resolved_at, w.end) - t.c.created_at > hours * HOUR)

    return where


DEFINITIONS = (
    MetricDefinition(Metric("tickets_handled", "tickets", "higher", "Tickets created in the period and assigned to the agent"),
                     "ticket", Count(evidence=False)),
    MetricDefinition(Metric("late_normal_tickets", "tickets", "lower",
                            "Normal requests not responded to and closed within 24 hours (seed 000)"),
                     "ticket", Count(_late(False, 24))),
    MetricDefinition(Metric("late_urgent_tickets", "tickets", "lower",
                            "Urgent requests not responded to and closed within 12 hours (seed 000)"),
                     "ticket", Count(_late(True, 12))),
    MetricDefinition(Metric("csat_rate", "%", "higher", "CSAT = good / (good + bad) × 100; unrated excluded"),
                     "rating", Ratio(lambda t, w: t.c.good.is_(True), lambda t, w: t.c.good.is_not(None))),
    MetricDefinition(Metric("valid_complaints", "complaints", "lower", "Valid complaints (有效投诉) against the agent"),
                     "complaint", Count(lambda t, w: t.c.valid.is_(True))),
    MetricDefinition(Metric("serious_complaints", "complaints", "lower",
                            "Valid complaints the department rated serious; each is also a valid complaint (after_sales)"),
                     "complaint", Count(lambda t, w: and_(t.c.valid.is_(True), t.c.serious.is_(True)))),
    MetricDefinition(Metric("attendance_exceptions", "days", "lower", "Days late or leaving early"),
                     "attendance_day", Count(lambda t, w: t.c.result.in_(("late", "early")))),
    MetricDefinition(Metric("absent_days", "days", "lower", "Days of unauthorised absence (旷工)"),
                     "attendance_day", Count(lambda t, w: t.c.result == "absent")),
    MetricDefinition(Metric("attended_days", "days", "higher", "Scheduled days attended (normal, late or early)"),
                     "attendance_day", Count(lambda t, w: t.c.result.in_(("normal", "late", "early")), evidence=False)),
    MetricDefinition(Metric("approved_leave_days", "days", "lower", "Days of approved leave (有效请假天数; ecommerce_kpi)"),
                     "attendance_day", Count(lambda t, w: t.c.result == "leave")),
    # Supplied per employee by the departments that own the data (seed 000: 数据采集).
    MetricDefinition(Metric("task_completion_rate", "%", "higher", "Monthly service tasks completed / assigned × 100")),
    MetricDefinition(Metric("process_compliance_rate", "%", "higher", "QC-sampled tickets handled to process / sampled × 100")),
    MetricDefinition(Metric("violations", "cases", "lower", "Recorded breaches of service rules (QC or supervisor)")),
    MetricDefinition(Metric("teamwork_rating", "1-5", "higher", "Supervisor's teamwork rating on a 1-5 scale")),
)

ALL = (DEFINITIONS + tickets.DEFINITIONS + contact_centre.DEFINITIONS + commerce.DEFINITIONS
       + property_metrics.DEFINITIONS)


@hookimpl
def kpi_register_metrics(register):
    for definition in ALL:
        register(definition)
