"""Inline SVG charts for the HTML report: a histogram of totals and grouped bars of dimension
averages. Plain SVG markup, no script and no external resource, so the report opens offline and
prints; every label is escaped, and each chart carries a <title> for screen readers."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from kpi.core.text import width as columns

# Colours that stay distinct in print and in greyscale (dark, medium, light).
PALETTE = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6")
FONT = 12


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    # Inline in HTML an <svg> needs no xmlns: the page names no URL at all.
    return (f'<svg class="chart" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-size="{FONT}"><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{escape(text)}</text>'


def histogram(totals: list[Decimal], title: str, x_label: str, y_label: str, bin_width: int = 10) -> str:
    """Counts of totals in bins of `bin_width` from 0 to 100 (the last bin includes 100; a total
    outside 0–100 is counted in the nearest end bin)."""
    bins = 100 // bin_width
    counts = [0] * bins
    for t in totals:
        counts[min(max(int(t // bin_width), 0), bins - 1)] += 1
    left, right, top, bottom, plot_h, bar_w = 44, 12, 16, 44, 180, 56
    width, height = left + bins * bar_w + right, top + plot_h + bottom
    peak = max(counts, default=0) or 1
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" class="axis"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" class="axis"/>']
    for tick in sorted({0, peak, (peak + 1) // 2}):
        y = top + plot_h - tick / peak * plot_h
        body.append(_text(left - 6, y + 4, str(tick), "end"))
    for i, n in enumerate(counts):
        x = left + i * bar_w
        h = n / peak * plot_h
        lo, hi = i * bin_width, (i + 1) * bin_width
        span = f"{lo}–{hi}" if i == bins - 1 else f"{lo}–{hi - 1}"
        body.append(f'<rect x="{x + 6}" y="{top + plot_h - h:.1f}" width="{bar_w - 12}" height="{h:.1f}" '
                    f'fill="{PALETTE[0]}" class="bar" data-bin="{lo}"><title>{escape(span)}: {n}</title></rect>')
        if n:
            body.append(_text(x + bar_w / 2, top + plot_h - h - 4, str(n), "middle", "count"))
        body.append(_text(x + bar_w / 2, top + plot_h + 16, span, "middle"))
    body.append(_text(left + bins * bar_w / 2, height - 8, x_label, "middle", "label"))
    body.append(f'<text x="12" y="{top + plot_h / 2:.1f}" text-anchor="middle" class="label" '
                f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">{escape(y_label)}</text>')
    return _svg(width, height, title, body)


def grouped_bars(groups: list[tuple[str, list[tuple[Decimal, Decimal]]]], series: list[str], title: str) -> str:
    """Horizontal bars: one group per dimension (its name on a line above), one bar per series
    (role). Each bar is (mean points, mean weight), drawn as a share of the weight and labelled
    "points / weight"."""
    width, indent, right, bar_h, label_h, gap = 720, 8, 100, 14, 18, 10
    bar_max = width - indent - right
    body, x, y = [], 0, 4
    for i, name in enumerate(series):  # the legend, wrapped to the chart's width
        item = 16 + 7 * columns(name) + 20
        if x and x + item > width:
            x, y = 0, y + 18
        body.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>')
        body.append(_text(x + 16, y + 10, name))
        x += item
    y += 24
    for name, bars in groups:
        body.append(_text(0, y + 13, name, cls="label"))
        y += label_h
        body.append(f'<rect x="{indent}" y="{y}" width="{bar_max}" height="{len(bars) * bar_h}" class="track"/>')
        for i, (points, weight) in enumerate(bars):
            share = max(Decimal(0), min(Decimal(1), points / weight)) if weight else Decimal(0)
            figure = f"{_figure(points)} / {_figure(weight)}"
            body.append(f'<rect x="{indent}" y="{y + 1}" width="{float(share) * bar_max:.1f}" height="{bar_h - 2}" '
                        f'fill="{PALETTE[i % len(PALETTE)]}" class="bar"><title>{escape(series[i])}: {figure}</title>'
                        "</rect>")
            body.append(_text(indent + bar_max + 6, y + bar_h - 3, figure))
            y += bar_h
        y += gap
    return _svg(width, y, title, body)


def _figure(d: Decimal) -> str:
    return format(d.quantize(Decimal("0.1")), "f")
