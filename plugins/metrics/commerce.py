"""E-commerce service metrics (seed 003's KPI table, the ecommerce_kpi pack): inquiry conversion X,
payment rate F, order value ratio Y, reply rate Z and response time T, plus the sales figures of
the seed's other e-commerce scheme (paid amount, refunds, disputes)."""

from __future__ import annotations

from kpi.core.metrics import Mean, MetricDefinition, Ratio, RelativeMean, Sum, scaled
from kpi.core.models import Metric

MONEY = 2  # places kept exact


def _paid(t, w):
    return t.c.paid.is_(True)


DEFINITIONS = (
    MetricDefinition(Metric("inquiry_conversion", "%", "higher",
                            "询单转化率 X = inquiring customers who went on to pay / inquiring customers × 100"),
                     "chat_inquiry", Ratio(lambda t, w: t.c.converted.is_(True))),
    MetricDefinition(Metric("reply_rate", "%", "higher", "回复率 Z = inquiries the agent replied to / inquiries × 100"),
                     "chat_inquiry", Ratio(lambda t, w: t.c.replied.is_(True))),
    MetricDefinition(Metric("response_seconds", "s", "lower",
                            "响应时间 T = mean seconds from a customer's first message to the agent's reply"),
                     "chat_inquiry", Mean(lambda t, w: t.c.response_seconds)),
    MetricDefinition(Metric("payment_rate", "%", "higher", "支付率 F = orders paid / orders placed × 100"),
                     "order", Ratio(_paid)),
    MetricDefinition(Metric("order_value_ratio", "ratio", "higher",
                            "落实客单价 Y = the agent's mean paid order value / the shop's (every paid order in "
                            "the store's period)"),
                     "order", RelativeMean(lambda t, w: t.c.amount, _paid, places=MONEY)),
    MetricDefinition(Metric("paid_amount", "CNY", "higher", "Value of the agent's paid orders (付款金额)"),
                     "order", Sum(lambda t, w: t.c.amount, _paid, places=MONEY)),
    MetricDefinition(Metric("refunded_amount", "CNY", "lower", "Amount refunded on the agent's orders (退款金额)"),
                     "order", Sum(lambda t, w: t.c.refunded_amount, places=MONEY)),
    MetricDefinition(Metric("refund_rate", "%", "lower",
                            "客户退款率 R = paid orders with a refund / paid orders × 100"),
                     "order", Ratio(lambda t, w: scaled(t.c.refunded_amount, MONEY) > 0, _paid)),
    MetricDefinition(Metric("order_disputes", "disputes", "lower", "Disputes and complaints raised on the agent's orders"),
                     "order", Sum(lambda t, w: t.c.disputes)),
)
