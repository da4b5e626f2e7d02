"""Exact decimals as people write them."""

from decimal import Decimal


def tidy(d: Decimal) -> Decimal:
    """Without trailing zeros or exponent: 100 (not 1E+2), 92.5 (not 92.5000)."""
    d = d.normalize()
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d
