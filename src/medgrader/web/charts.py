"""Charts drawn on the server as SVG: no chart library, no script, readable without CSS."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from medgrader.analytics.schemas import Day
from medgrader.core.money import format_money

WIDTH, HEIGHT = 720, 220
LEFT, BOTTOM, TOP = 64, 28, 12


def _nice_ceiling(value: int) -> int:
    """The axis top: 1, 2 or 5 times a power of ten, at least `value` (pence)."""
    step = 100  # £1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def daily_revenue(days: Sequence[Day]) -> Markup:
    """Gross revenue per day as bars, with the refunded and disputed share of each day drawn
    in a second colour from the bar's foot; the axis in pounds."""
    top = _nice_ceiling(max([d.gross_revenue for d in days] + [d.refunds + d.disputes
                                                               for d in days] + [100]))  # fmt: skip
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.7, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'class="chart" aria-labelledby="chart-title">'
        '<title id="chart-title">Daily gross revenue and money returned</title>'
    ]
    for i in range(5):
        value = top * i // 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - 8}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
            f"{escape(format_money(value))}</text>"
        )
    for index, day in enumerate(days):
        x = LEFT + index * slot + (slot - bar_w) / 2
        gross_h = plot_h * day.gross_revenue / top
        returned_h = plot_h * min(day.refunds + day.disputes, top) / top
        label = (
            f"{day.date.isoformat()}: gross {format_money(day.gross_revenue)}, refunds "
            f"{format_money(day.refunds)}, disputes {format_money(day.disputes)}, "
            f"{day.payments} payments"
        )
        parts.append(
            f'<g class="day"><title>{escape(label)}</title>'
            f'<rect x="{x:.1f}" y="{TOP + plot_h - gross_h:.1f}" width="{bar_w:.1f}" '
            f'height="{gross_h:.1f}" class="gross"/>'
            f'<rect x="{x:.1f}" y="{TOP + plot_h - returned_h:.1f}" width="{bar_w:.1f}" '
            f'height="{returned_h:.1f}" class="returned"/></g>'
        )
    label_every = max(len(days) // 8, 1)
    for index, day in enumerate(days):
        if index % label_every == 0:
            x = LEFT + index * slot + slot / 2
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 8}" class="axis" text-anchor="middle">'
                f"{day.date.strftime('%d %b')}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
