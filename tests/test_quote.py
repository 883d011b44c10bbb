"""The prep-time quote's pure rules (kitchen/load/quote.py), against numbers worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kitchen.load.quote import (
    DEFAULT_PREP_SECONDS,
    OpenLine,
    PrepSource,
    PrepTime,
    TypicalLine,
    accuracy,
    is_busy,
    minutes,
    most_at_once,
    most_common,
    percentile,
    prep_time,
    quote_seconds,
    remaining_seconds,
    station_loads,
    typical_size,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def at(minutes_from_now: float) -> datetime:
    return NOW + timedelta(minutes=minutes_from_now)


def line(plu: str, station: str, seconds: float) -> TypicalLine:
    return TypicalLine(plu, plu, station, PrepTime(seconds, PrepSource.MEASURED, 1))


def test_a_prep_time_is_measured_first_then_the_menus_then_the_default() -> None:
    assert prep_time([400, 480, 420], 300) == PrepTime(420, PrepSource.MEASURED, 3)
    assert prep_time([], 300) == PrepTime(300, PrepSource.MENU)
    assert prep_time([], None) == PrepTime(DEFAULT_PREP_SECONDS, PrepSource.DEFAULT)


def test_a_line_being_cooked_represents_only_what_is_left_of_it() -> None:
    assert remaining_seconds(OpenLine("grill", 480, at(0)), NOW) == 480
    assert remaining_seconds(OpenLine("grill", 480, at(0), started_at=at(-3)), NOW) == 300
    assert remaining_seconds(OpenLine("grill", 480, at(0), started_at=at(-20)), NOW) == 0


def test_a_station_sums_its_work_and_takes_the_median_lateness_of_its_waiting_lines() -> None:
    lines = [
        OpenLine("grill", 480, start_by=at(-6)),  # 6 min behind
        OpenLine("grill", 480, start_by=at(-2)),
        OpenLine("grill", 480, start_by=at(4)),  # 4 min ahead
        OpenLine("grill", 480, start_by=at(-30), started_at=at(-2)),  # started: not waiting, 360 s left
        OpenLine("fryer", 240, start_by=at(1), started_at=at(-1)),
    ]
    loads = station_loads(lines, NOW)
    assert list(loads) == ["fryer", "grill"]
    grill = loads["grill"]
    assert (grill.open_lines, grill.work_seconds, grill.behind_median_minutes) == (4, 480 * 3 + 360, 2.0)
    assert loads["fryer"].behind_median_minutes is None  # nothing waits there


def test_cooks_are_the_most_lines_cooking_at_once_and_a_hand_over_is_not_an_overlap() -> None:
    assert most_at_once([]) == 0
    assert most_at_once([(at(0), at(5)), (at(5), at(9))]) == 1
    assert most_at_once([(at(0), at(5)), (at(1), at(3)), (at(2), at(8)), (at(6), at(7))]) == 3


def test_a_typical_order_is_the_median_size_of_the_most_common_plus() -> None:
    assert typical_size({}) == 1
    assert typical_size({1: 3, 2: 2, 4: 2}) == 2  # 1,1,1,2,2,4,4
    assert typical_size({1: 1, 2: 1}) == 2  # median 1.5 rounds up
    assert most_common({"BB-2": 5, "BB-1": 7, "BB-3": 5, "BB-9": 1}, 3) == ["BB-1", "BB-2", "BB-3"]


def test_the_quote_of_the_worked_example_in_the_readme() -> None:
    # Grill: 1,200 s of work ahead, 2 cooks; fryer: 240 s, 1 cook; packing 120 s.
    # Grill: 1200 / 2 + max(420, 420 / 2) = 1,020 s; fryer: 240 / 1 + 240 = 480 s.
    # Ready after the slower, the grill, then packed: 1,020 + 120 = 1,140 s = 19 min.
    order = [line("BB-1", "grill", 420), line("BB-2", "fryer", 240)]
    seconds = quote_seconds(order, {"grill": 1200, "fryer": 240}, {"grill": 2, "fryer": 1}, 120)
    assert seconds == 1140
    assert minutes(seconds) == 19.0


def test_an_idle_kitchen_quotes_the_slowest_line_and_packing() -> None:
    order = [line("BB-1", "grill", 420), line("BB-2", "fryer", 240)]
    assert quote_seconds(order, {}, {}, 120) == 540


def test_lines_on_one_station_share_its_cooks_but_one_line_is_one_cooks() -> None:
    two_burgers = [line("BB-1", "grill", 420), line("BB-1", "grill", 420)]
    assert quote_seconds(two_burgers, {}, {"grill": 1}, 0) == 840
    assert quote_seconds(two_burgers, {}, {"grill": 2}, 0) == 420
    assert quote_seconds(two_burgers, {}, {"grill": 4}, 0) == 420  # a burger takes its 7 min however many cook


def test_busy_is_a_quote_over_the_threshold() -> None:
    assert not is_busy(45.0, 45)
    assert is_busy(45.1, 45)


def test_a_busy_brand_is_normal_again_only_well_under_the_threshold() -> None:
    assert is_busy(44.0, 45, was_busy=True), "hovering at the threshold: no flapping"
    assert is_busy(36.0, 45, was_busy=True)
    assert not is_busy(35.9, 45, was_busy=True)
    assert not is_busy(44.0, 45, was_busy=False)


def test_percentiles_interpolate_like_percentile_cont() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7], 0.9) == 7
    assert percentile([1, 2, 3, 5, 10], 0.9) == pytest.approx(8.0)  # rank 3.6: 5 + 0.6 * 5


def test_accuracy_is_the_absolute_error_and_its_signed_median() -> None:
    found = accuracy([-2, 1, 3, 5, 10])
    assert (found.orders, found.median_abs_error, found.p90_abs_error, found.median_error) == (5, 3.0, 8.0, 3.0)
    assert accuracy([]).median_abs_error is None
