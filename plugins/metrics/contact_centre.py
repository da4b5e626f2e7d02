"""Call-centre, survey and QC metrics: calls offered, answered, abandoned and transferred (seed 002's
specialist, seed 003's 400 call centre), survey scores, and QC samples (seeds 003 and 004)."""

from __future__ import annotations

from sqlalchemy import or_

from kpi.core.metrics import Count, Mean, MetricDefinition, Ratio
from kpi.core.models import Metric


def _inbound(t, w):
    return or_(t.c.direction.is_(None), t.c.direction == "inbound")


def _answered(t, w):
    return t.c.answered.is_(True)


DEFINITIONS = (
    MetricDefinition(Metric("call_volume", "calls", "higher", "Calls in and out, answered or not (call_centre: 呼叫数)"),
                     "call", Count(evidence=False)),
    MetricDefinition(Metric("call_answer_rate", "%", "higher",
                            "Inbound calls answered / inbound calls offered × 100 (after_sales: 接通率)"),
                     "call", Ratio(_answered, _inbound)),
    MetricDefinition(Metric("abandonment_rate", "%", "lower",
                            "Inbound calls the caller abandoned before an answer / inbound calls offered × 100 "
                            "(call_centre: 呼叫放弃率)"),
                     "call", Ratio(lambda t, w: t.c.abandoned.is_(True), _inbound)),
    MetricDefinition(Metric("transfer_rate", "%", "lower", "Answered calls transferred / calls answered × 100 "
                                                          "(call_centre: 转接率)"),
                     "call", Ratio(lambda t, w: t.c.transferred.is_(True), _answered)),
    MetricDefinition(Metric("avg_handling_minutes", "min", "lower",
                            "Mean talk minutes per answered call (after_sales: 平均通话时长)"),
                     "call", Mean(lambda t, w: t.c.talk_seconds, _answered, divisor=60)),
    MetricDefinition(Metric("call_answer_seconds", "s", "lower",
                            "Mean seconds an answered inbound call rang or queued before the answer"),
                     "call", Mean(lambda t, w: t.c.wait_seconds, lambda t, w: _answered(t, w) & _inbound(t, w))),
    MetricDefinition(Metric("csat_score", "points", "higher",
                            "Mean survey or callback score, on the survey's own scale (general_cs, call_centre: "
                            "客户满意度得分)"),
                     "rating", Mean(lambda t, w: t.c.score)),
    MetricDefinition(Metric("qc_sampled_tickets", "tickets", "higher",
                            "Work of the agent QC sampled and checked in the period (support_centre: 10%, ≥ 100 a month)"),
                     "qc_sample", Count()),
    MetricDefinition(Metric("qc_compliance_rate", "%", "higher",
                            "QC-sampled work handled to process / sampled work QC judged × 100 (computed from "
                            "qc_sample records; process_compliance_rate is the same figure supplied as a number)"),
                     "qc_sample", Ratio(lambda t, w: t.c.compliant.is_(True), lambda t, w: t.c.compliant.is_not(None))),
    MetricDefinition(Metric("qc_rate", "%", "higher", "Mean QC score of the sampled work, in % (game_support: 实际QC服务值)"),
                     "qc_sample", Mean(lambda t, w: t.c.score, places=4)),
)
