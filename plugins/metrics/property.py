"""Property-management metrics (seed 003's property desk and property company, the property_desk
and property_company packs): fee collection, and violations and lapses by type."""

from __future__ import annotations

from kpi.core.metrics import Count, MetricDefinition, Sum, SumRatio
from kpi.core.models import Metric

MONEY = 2  # places kept exact


def _count(metric: str, type_: str, description: str) -> MetricDefinition:
    return MetricDefinition(Metric(metric, "cases", "lower", description), "violation",
                            Count(lambda t, w: t.c.type == type_))


def _points(metric: str, type_: str, description: str) -> MetricDefinition:
    return MetricDefinition(Metric(metric, "points", "lower", description), "violation",
                            Sum(lambda t, w: t.c.points, lambda t, w: t.c.type == type_, places=MONEY))


DEFINITIONS = (
    MetricDefinition(Metric("fee_collection_rate", "%", "higher",
                            "物业费收缴率 = households that paid / households due × 100, none excluded (property_desk)"),
                     "fee_collection", SumRatio(lambda t, w: t.c.households_paid, lambda t, w: t.c.households_due)),
    MetricDefinition(Metric("fee_target_share", "%", "higher",
                            "Fees collected / fees due (the collection target) × 100 (property_company)"),
                     "fee_collection", SumRatio(lambda t, w: t.c.amount_collected, lambda t, w: t.c.amount_due,
                                                places=MONEY)),
    _count("appearance_violations", "appearance", "Violations of type appearance (仪容仪表; property_desk)"),
    _count("discipline_violations", "discipline", "Violations of type discipline (工作纪律; property_desk)"),
    _count("attitude_violations", "attitude", "Violations of type attitude (工作态度; property_desk)"),
    _count("facility_cases", "facility", "Cases of type facility: public facilities damaged or missing (property_desk)"),
    _count("building_cases", "building", "Cases of type building: building-appearance cases (property_desk)"),
    _points("cleaning_lapse_points", "cleaning", "Points deducted for lapses of type cleaning (property_company)"),
    _points("order_lapse_points", "order", "Points deducted for lapses of type order (property_company)"),
    _points("process_lapse_points", "process", "Points deducted for lapses of type process (property_company)"),
    _points("control_lapse_points", "control", "Points deducted for lapses of type control (property_company)"),
)
