"""What a measurement returns, and the table the benchmark prints."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Cost", "Goal", "Ratio", "Row", "Samples", "format_report"]


@dataclass(frozen=True)
class Cost:
    """The CPU one unit of a row's work took (a job, a kernel start), by the part that spent
    it, measured beside the row: what a missed goal is explained with."""

    cpu: dict[str, float]  # seconds per unit, by part, e.g. {"service": 0.03, "kernels": 0.05}
    per: str = "job"
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)

    @property
    def total(self) -> float:
        return sum(self.cpu.values())

    def describe(self) -> str:
        parts = ", ".join(f"{name} {_fmt(value, 's')}" for name, value in self.cpu.items())
        return f"{_fmt(self.total, 's')} of CPU per {self.per} ({parts})"

    def explain(self, goal: Goal) -> str:
        """Why the goal is missed, in this cost's terms: what it would take on these cores."""
        if goal.unit.endswith("/s"):
            ceiling = self.cores / self.total if self.total else float("inf")
            needed = self.cores / goal.target
            return (
                f"floor: {self.describe()}; {self.cores} cores allow at most "
                f"{_fmt(ceiling, goal.unit)}; {_fmt(goal.target, goal.unit)} needs "
                f"{_fmt(needed, 's')} per {self.per}"
            )
        if self.total > goal.target:
            return f"floor: {self.describe()}: more CPU than the goal's whole time"
        return f"floor: {self.describe()}; the rest of the time is waiting (I/O, scheduling)"


@dataclass(frozen=True)
class Samples:
    """One measurement's raw values. `unit` "s" is printed in ms or s as fits."""

    values: list[float]
    unit: str = "s"
    note: str = ""
    cost: Cost | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def p90(self) -> float:
        if len(self.values) < 2:
            return self.values[0]
        return statistics.quantiles(self.values, n=10, method="inclusive")[-1]


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    samples: Samples


@dataclass(frozen=True)
class Ratio:
    """median(numerator) / median(denominator), checked against a target."""

    numerator: str
    denominator: str
    op: Literal["<=", ">="]
    target: float
    why: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        return f"{self.numerator}/{self.denominator}"

    def value(self, rows: dict[str, Row]) -> float | None:
        num, den = rows.get(self.numerator), rows.get(self.denominator)
        if num is None or den is None or den.samples.median == 0:
            return None
        return num.samples.median / den.samples.median

    def met(self, value: float) -> bool:
        return value <= self.target if self.op == "<=" else value >= self.target

    def explain(self, rows: dict[str, Row]) -> str | None:
        """For a missed ratio: the bound it puts on the side whose CPU was measured (the
        numerator when both were), and that side's cost."""
        num, den = rows[self.numerator], rows[self.denominator]
        if num.samples.cost is not None:
            row, bound = num, self.target * den.samples.median
            op = self.op
        elif den.samples.cost is not None:
            row, bound = den, num.samples.median / self.target
            op = ">=" if self.op == "<=" else "<="
        else:
            return None
        cost = row.samples.cost
        assert cost is not None
        unit = row.samples.unit
        line = f"needs ({row.key}) {op} {_fmt(bound, unit)}; floor: {cost.describe()}"
        if unit == "s" and op == "<=" and cost.total > bound:
            line += ": more CPU than that whole time"
        return line


@dataclass(frozen=True)
class Goal:
    """median(row) checked against an absolute target, in the row's unit."""

    key: str
    op: Literal["<=", ">="]
    target: float
    unit: str = "s"
    why: str = field(default="", compare=False)

    def met(self, value: float) -> bool:
        return value <= self.target if self.op == "<=" else value >= self.target


def _fmt(value: float, unit: str) -> str:
    if unit != "s":
        return f"{value:,.1f} {unit}"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def format_report(rows: Sequence[Row], ratios: Sequence[Ratio], goals: Sequence[Goal] = ()) -> str:
    label_width = max([len(r.label) for r in rows] + [20]) + 5
    lines = [
        f"{'measurement':<{label_width}} {'runs':>5} {'median':>10} {'p90':>10} {'min':>10}",
    ]
    for row in rows:
        s = row.samples
        label = f"({row.key}) {row.label}"
        lines.append(
            f"{label:<{label_width}} {len(s.values):>5} {_fmt(s.median, s.unit):>10} "
            f"{_fmt(s.p90, s.unit):>10} {_fmt(min(s.values), s.unit):>10}"
            + (f"  {s.note}" if s.note else "")
        )
    by_key = {r.key: r for r in rows}
    lines += ["", f"{'ratio of medians':<{label_width}} {'value':>16} {'target':>10}  verdict"]
    for ratio in ratios:
        value = ratio.value(by_key)
        name = f"{ratio.name}" + (f"  {ratio.why}" if ratio.why else "")
        target = f"{ratio.op} {ratio.target:g}"
        if value is None:
            lines.append(f"{name:<{label_width}} {'n/a':>16} {target:>10}  not measured")
        else:
            verdict = "met" if ratio.met(value) else "MISSED"
            lines.append(f"{name:<{label_width}} {value:>16.2f} {target:>10}  {verdict}")
            if not ratio.met(value) and (why := ratio.explain(by_key)):
                lines.append(f"    {why}")
    if goals:
        lines += ["", f"{'goal (median)':<{label_width}} {'value':>16} {'target':>10}  verdict"]
    for goal in goals:
        row = by_key.get(goal.key)
        name = f"({goal.key})" + (f"  {goal.why}" if goal.why else "")
        target = f"{goal.op} {_fmt(goal.target, goal.unit)}"
        if row is None:
            lines.append(f"{name:<{label_width}} {'n/a':>16} {target:>10}  not measured")
        else:
            value = row.samples.median
            verdict = "met" if goal.met(value) else "MISSED"
            shown = _fmt(value, goal.unit)
            lines.append(f"{name:<{label_width}} {shown:>16} {target:>10}  {verdict}")
            cost = row.samples.cost
            if cost is not None and not goal.met(value):
                lines.append(f"    {cost.explain(goal)}")
    return "\n".join(lines)
