"""Bar charts drawn on the server (服务器端绘制的条形图): the geometry of an SVG a template
renders (shared/web/templates/bar_chart.html), no script and nothing fetched by the browser.

Each row is one bar (e.g. mean working days of a stage) with, optionally, a second, lighter bar
behind it (e.g. the 90th percentile) and a limit mark (e.g. the stage's time limit); a bar past
its limit is drawn in the overdue colour, and every number is written beside it as text too.
"""

from __future__ import annotations

from dataclasses import dataclass

ROW_HEIGHT = 34
LABEL_WIDTH = 150
BAR_AREA = 300
VALUE_WIDTH = 110
TOP = 8


@dataclass(frozen=True)
class BarRow:
    label: str
    value: float | None
    behind: float | None = None  # a second figure drawn lighter behind the bar
    limit: float | None = None


@dataclass(frozen=True)
class DrawnRow:
    label: str
    text: str
    y: float
    width: float
    behind_width: float
    limit_x: float | None
    over: bool


@dataclass(frozen=True)
class BarChart:
    title: str
    width: int
    height: int
    label_width: int
    bar_area: int
    row_height: int
    rows: list[DrawnRow]


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}".removesuffix(".0")


def bar_chart(title: str, rows: list[BarRow], *, unit: str = "") -> BarChart:
    """The chart of ``rows``, scaled so that the largest value, second figure or limit fills
    the bar area."""
    largest = max(
        (x for r in rows for x in (r.value, r.behind, r.limit) if x is not None), default=0.0
    )
    scale = BAR_AREA / largest if largest > 0 else 0.0
    drawn = []
    for i, row in enumerate(rows):
        text = f"{_fmt(row.value)}{unit}"
        if row.limit is not None:
            text += f" / {_fmt(row.limit)}"
        drawn.append(
            DrawnRow(
                label=row.label,
                text=text,
                y=TOP + i * ROW_HEIGHT,
                width=round((row.value or 0) * scale, 1),
                behind_width=round((row.behind or 0) * scale, 1),
                limit_x=None if row.limit is None else round(LABEL_WIDTH + row.limit * scale, 1),
                over=row.value is not None and row.limit is not None and row.value > row.limit,
            )
        )
    return BarChart(
        title=title,
        width=LABEL_WIDTH + BAR_AREA + VALUE_WIDTH,
        height=TOP * 2 + ROW_HEIGHT * len(rows),
        label_width=LABEL_WIDTH,
        bar_area=BAR_AREA,
        row_height=ROW_HEIGHT,
        rows=drawn,
    )
