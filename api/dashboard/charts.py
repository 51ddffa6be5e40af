"""Bar charts drawn on the server as SVG geometry (no chart library, no script).

`bar_chart` turns day-by-day series into rectangles, axis ticks and labels in SVG user units;
the template `_chart.html` writes them out with escaping, and colours come from CSS classes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

WIDTH = 720
HEIGHT = 220
LEFT = 44  # room for the y-axis labels
RIGHT = 8
TOP = 12
BOTTOM = 28  # room for the day labels
GAP = 0.2  # of each day's slot left empty between bars


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    series: str
    title: str  # the bar's tooltip (and what a screen reader reads of it)


@dataclass(frozen=True)
class Tick:
    value: int
    y: float


@dataclass(frozen=True)
class Label:
    x: float
    text: str


@dataclass
class BarChart:
    title: str
    days: list[date]
    series: list[str]
    rects: list[Rect] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: float = HEIGHT - BOTTOM
    right: float = WIDTH - RIGHT
    total: int = 0
    # The numbers behind it, one row per day: the table the chart offers screen readers.
    rows: list[tuple[date, list[int]]] = field(default_factory=list)


def nice_ceiling(value: int) -> int:
    """The axis top: at least `value`, a round number (1, 2 or 5 times a power of ten), never 0."""
    if value <= 5:
        return 5
    magnitude = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def day_label(day: date) -> str:
    return f"{day:%b} {day.day}"


def bar_chart(
    title: str,
    days: Sequence[date],
    values: Mapping[str, Mapping[date, int]],
    *,
    unit: str = "",
) -> BarChart:
    """Stacked bars, one per day, one segment per series (in `values`' order)."""
    series = list(values)
    chart = BarChart(title=title, days=list(days), series=series)
    totals = [sum(values[s].get(d, 0) for s in series) for d in days]
    chart.total = sum(totals)
    top = nice_ceiling(max(totals, default=0))
    plot_height = chart.bottom - TOP
    slot = (chart.right - chart.left) / max(1, len(days))
    for i, day in enumerate(days):
        x = chart.left + i * slot + slot * GAP / 2
        base = chart.bottom
        counts = [values[s].get(day, 0) for s in series]
        chart.rows.append((day, counts))
        for name, count in zip(series, counts, strict=True):
            if count <= 0:
                continue
            height = plot_height * count / top
            base -= height
            what = f"{count:,} {name}" if len(series) > 1 else f"{count:,}{unit}"
            chart.rects.append(
                Rect(
                    round(x, 2),
                    round(base, 2),
                    round(slot * (1 - GAP), 2),
                    round(height, 2),
                    name,
                    f"{day_label(day)}: {what}",
                )
            )
        # A label every week, and on the last day (today).
        if (len(days) - 1 - i) % 7 == 0:
            chart.labels.append(Label(round(x + slot * (1 - GAP) / 2, 2), day_label(day)))
    # Tops are 5, 10, 20, 50, …: fifths of them are whole numbers.
    for k in range(6):
        value = top * k // 5
        chart.ticks.append(Tick(value, round(chart.bottom - plot_height * value / top, 2)))
    return chart
