"""Chart geometry: round axis tops, bars in proportion, nothing drawn for missing values."""

from __future__ import annotations

import pytest

from kitchen.analytics.charts import grouped_bars, nice_ceiling


@pytest.mark.parametrize(("value", "top"), [(0, 1), (0.3, 0.5), (1, 1), (3, 5), (7, 10), (11, 20), (240, 500)])
def test_axis_tops_are_one_two_or_five_times_ten_to_a_power(value: float, top: float) -> None:
    assert nice_ceiling(value) == pytest.approx(top)


def test_bars_are_in_proportion_and_missing_values_are_not_drawn() -> None:
    chart = grouped_bars(["a", "b", "c"], [("s", "series", [10, 5, None])], least_top=1)
    assert [bar.title for bar in chart.bars] == ["a · series: 10", "b · series: 5"]
    assert chart.bars[0].height == pytest.approx(2 * chart.bars[1].height)
    assert chart.bars[0].y + chart.bars[0].height == pytest.approx(chart.baseline)
    assert [tick.label for tick in chart.y_ticks] == ["0", "2", "4", "6", "8", "10"]


def test_a_chart_without_values_says_so() -> None:
    assert grouped_bars(["a"], [("s", "series", [None])]).empty
