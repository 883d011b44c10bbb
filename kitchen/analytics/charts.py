"""Chart geometry for the dashboard's inline SVG: plain numbers in, rectangles and labels out.

Templates only draw what is computed here, so a chart never does arithmetic in Jinja.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 640
HEIGHT = 220
LEFT = 64  # room for the y-axis labels
Y_STEPS = 5  # gridlines: with 1-2-5 axis tops, five steps land on round numbers
BOTTOM = 28  # room for the x-axis labels
TOP = 10


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str  # CSS class: which series the bar belongs to
    title: str  # tooltip: the exact figure


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    baseline: float
    legend: list[tuple[str, str]]  # (series class, label)
    empty: bool


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value`, for round axis ticks."""
    if value <= 0:
        return 1.0
    power = 1.0
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def grouped_bars(
    groups: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    *,
    unit: str = "",
    label_every: int = 1,
    least_top: float = 5.0,
) -> BarChart:
    """Bars for each group (x), one per series side by side. `series` is (css class, label, values).

    The axis reaches at least `least_top`, so a quiet day does not blow tiny values up to full height.
    """
    values = [v for _, _, vs in series for v in vs if v is not None]
    top = nice_ceiling(max([*values, least_top]))
    plot_width = WIDTH - LEFT - 8
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    slot = plot_width / max(len(groups), 1)
    bar_width = max(slot * 0.8 / max(len(series), 1), 1.0)
    bars: list[Bar] = []
    for index, group in enumerate(groups):
        for offset, (css, label, vs) in enumerate(series):
            value = vs[index]
            if value is None:
                continue
            height = plot_height * value / top
            x = LEFT + index * slot + slot * 0.1 + offset * bar_width
            bars.append(Bar(x, baseline - height, bar_width, height, css, f"{group} · {label}: {_fmt(value)}{unit}"))
    x_ticks = [
        Tick(LEFT + index * slot + slot / 2, group) for index, group in enumerate(groups) if index % label_every == 0
    ]
    y_ticks = [
        Tick(baseline - plot_height * step / Y_STEPS, _fmt(top * step / Y_STEPS) + unit) for step in range(Y_STEPS + 1)
    ]
    return BarChart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        baseline=baseline,
        legend=[(css, label) for css, label, _ in series],
        empty=not values,
    )


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60
