"""Charts drawn on the server (服务端绘制的图表): the geometry of an SVG bar chart, which a page
renders with the ``bar_chart`` macro of ``charts.html``; nothing is drawn in the browser.

One bar per row, its value against the row's target (a mark across the bar): the chart scales
to the larger of the values and targets, and the SVG to its container (viewBox), so that it fits
a phone.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 600
LABEL_WIDTH = 90
VALUE_WIDTH = 170
ROW_HEIGHT = 36
BAR_HEIGHT = 18
TOP = 8


@dataclass(frozen=True)
class Row:
    label: str
    value: float
    target: float | None = None


@dataclass(frozen=True)
class Bar:
    label: str
    text: str  # the value and target as a person reads them
    over: bool  # the value exceeds the target
    y: float
    width: float
    target_x: float | None


@dataclass(frozen=True)
class BarChart:
    title: str
    width: int
    height: int
    x0: int  # where the bars start
    bar_height: int
    bars: list[Bar]


def bar_chart(title: str, rows: list[Row], unit: str) -> BarChart:
    """Horizontal bars of ``rows``, each with its target marked, the values in ``unit``."""
    scale_max = max([r.value for r in rows] + [r.target or 0 for r in rows] + [0.0])
    room = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    per_unit = room / scale_max if scale_max > 0 else 0.0
    bars = []
    for i, row in enumerate(rows):
        target = f"，目标 {row.target:g}{unit}" if row.target is not None else ""
        bars.append(
            Bar(
                label=row.label,
                text=f"{row.value:g}{unit}{target}",
                over=row.target is not None and row.value > row.target,
                y=TOP + i * ROW_HEIGHT,
                width=round(row.value * per_unit, 2),
                target_x=None
                if row.target is None
                else round(LABEL_WIDTH + row.target * per_unit, 2),
            )
        )
    return BarChart(
        title=title,
        width=WIDTH,
        height=TOP * 2 + ROW_HEIGHT * len(rows),
        x0=LABEL_WIDTH,
        bar_height=BAR_HEIGHT,
        bars=bars,
    )
