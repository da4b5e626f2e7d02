"""Ticket metrics in the helpdesks' own vocabulary (Zendesk, Freshdesk, Zammad): first reply time in
calendar and business hours, first and full resolution time, one-touch, reopens, SLA breaches.

Tickets are those created in the period. A metric about the first reply counts for who made it
(`first_reply_by`), one about the resolution for who resolved it (`resolved_by`), under the run's
event attribution; under "last" they count for the ticket's assignee, as helpdesk reports do (see
kpi.core.metrics). Counts of tickets owned (handled, late, SLA) always count for the assignee.

Business hours: a ticket carries business-hours durations as the helpdesk measured them against its
own schedule and holidays (Zendesk's metric sets, Zammad's SLA calendar) — the same figures its SLA
is judged by — or as a connector worked them out from the site's schedule with
:class:`kpi.plugins.metrics.business_hours.BusinessHours`. Calendar times are taken from timestamps."""

from __future__ import annotations

from sqlalchemy import and_, func

from kpi.core.metrics import ByEvent, Count, Mean, MetricDefinition, Ratio
from kpi.core.models import Metric

HOUR = 3600
FIRST_REPLY = ByEvent("first_reply_by")
RESOLUTION = ByEvent("resolved_by")


def _resolved(t, w):
    return t.c.resolved_at.is_not(None)


def _field(name: str):
    return lambda t, w: t.c[name]


def _ticket(id_: str, unit: str, direction: str, description: str, aggregate, by: ByEvent | None = None):
    return MetricDefinition(Metric(id_, unit, direction, description), "ticket", aggregate, by)


DEFINITIONS = (
    _ticket("first_reply_minutes", "min", "lower",
            "Mean calendar minutes from creation to first reply, replied tickets only (seed 001: average "
            "response time; general_cs)",
            Mean(lambda t, w: t.c.first_reply_at - t.c.created_at, lambda t, w: t.c.first_reply_at.is_not(None),
                 divisor=60), FIRST_REPLY),
    _ticket("first_reply_business_minutes", "min", "lower",
            "Mean business-hours minutes to first reply, tickets whose source gives them",
            Mean(_field("first_reply_business_minutes")), FIRST_REPLY),
    _ticket("first_resolution_hours", "h", "lower",
            "Mean calendar hours from creation to the first resolution, resolved tickets",
            Mean(lambda t, w: func.coalesce(t.c.first_resolved_at, t.c.resolved_at) - t.c.created_at, divisor=HOUR),
            RESOLUTION),
    _ticket("full_resolution_hours", "h", "lower",
            "Mean calendar hours from creation to the last resolution, resolved tickets (seed 002: average "
            "fault handling time)",
            Mean(lambda t, w: t.c.resolved_at - t.c.created_at, divisor=HOUR), RESOLUTION),
    _ticket("first_resolution_business_hours", "h", "lower", "Mean business hours to the first resolution",
            Mean(_field("first_resolution_business_minutes"), divisor=60), RESOLUTION),
    _ticket("full_resolution_business_hours", "h", "lower", "Mean business hours to the last resolution",
            Mean(_field("full_resolution_business_minutes"), divisor=60), RESOLUTION),
    _ticket("tickets_resolved", "tickets", "higher", "Tickets created in the period and resolved",
            Count(_resolved, evidence=False), RESOLUTION),
    _ticket("resolution_rate", "%", "higher",
            "Tickets resolved / tickets handled × 100, by assignee (seed 001: 問題解決率; general_cs)",
            Ratio(_resolved)),
    _ticket("one_touch_rate", "%", "higher",
            "One-touch: resolved tickets with exactly one agent reply / resolved tickets whose replies are "
            "known × 100",
            Ratio(lambda t, w: t.c.replies == 1, lambda t, w: and_(_resolved(t, w), t.c.replies.is_not(None))),
            RESOLUTION),
    _ticket("reopened_tickets", "tickets", "lower", "Tickets reopened at least once after a resolution",
            Count(lambda t, w: t.c.reopens > 0), RESOLUTION),
    _ticket("reopen_rate", "%", "lower",
            "Resolved tickets reopened at least once / resolved tickets whose reopens are known × 100",
            Ratio(lambda t, w: t.c.reopens > 0, lambda t, w: and_(_resolved(t, w), t.c.reopens.is_not(None))),
            RESOLUTION),
    _ticket("sla_breached_tickets", "tickets", "lower", "Tickets that breached at least one SLA target",
            Count(lambda t, w: t.c.sla_breaches > 0)),
    _ticket("sla_achievement_rate", "%", "higher",
            "Tickets under an SLA policy that met every target / tickets under an SLA policy × 100",
            Ratio(lambda t, w: t.c.sla_breaches == 0, lambda t, w: t.c.sla_breaches.is_not(None))),
)
