"""The prep-time quote: how many minutes a new typical order of a brand would take to be ready now.

Pure rules, no I/O (`queries.py` reads what they need, `service.py` puts them together):
- a line's **prep time** is the median of its PLU's measured PREPARING → READY times of the last
  hour, else its menu's `prepSeconds`, else `DEFAULT_PREP_SECONDS`;
- a station's **work** is the sum of its open lines' prep times, less what a line being cooked has
  already had (never below 0);
- a station has as many **cooks** as it has had lines PREPARING at once in the last hour (at least 1),
  and shares its work among them;
- per station the new order uses, its lines are done once the work ahead of them is shared out
  (work / cooks) and then its own lines are cooked (their sum shared among the cooks, but never less
  than its longest line, which one cook makes); stations work side by side, so the order is ready
  when its slowest station is done, and then packed: quote = max over its stations + packing.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# A line no menu times and nobody has measured in the last hour: five minutes, a guess said aloud.
DEFAULT_PREP_SECONDS = 300


class PrepSource(StrEnum):
    """Where a line's prep time came from."""

    MEASURED = "measured"  # the median of the last hour's PREPARING → READY of that PLU
    MENU = "menu"  # the brand's menu's prepSeconds
    DEFAULT = "default"  # DEFAULT_PREP_SECONDS


@dataclass(frozen=True, slots=True)
class PrepTime:
    seconds: float
    source: PrepSource
    samples: int = 0  # how many measured times the median is of


def prep_time(measured: Sequence[float], menu_seconds: int | None, default: float = DEFAULT_PREP_SECONDS) -> PrepTime:
    """A line's prep time: measured (median), else the menu's, else the default."""
    if measured:
        return PrepTime(float(statistics.median(measured)), PrepSource.MEASURED, len(measured))
    if menu_seconds is not None:
        return PrepTime(float(menu_seconds), PrepSource.MENU)
    return PrepTime(float(default), PrepSource.DEFAULT)


@dataclass(frozen=True, slots=True)
class OpenLine:
    """A line still to be made: ORDERED, or PREPARING since `started_at`."""

    station: str
    prep_seconds: float
    start_by: datetime
    started_at: datetime | None = None


def remaining_seconds(line: OpenLine, now: datetime) -> float:
    """The work a line still represents: its prep time, less what it has been cooking (not below 0)."""
    if line.started_at is None:
        return line.prep_seconds
    return max(0.0, line.prep_seconds - (now - line.started_at).total_seconds())


@dataclass(frozen=True, slots=True)
class StationLoad:
    station: str
    open_lines: int
    work_seconds: float
    # The median of (now - start-by) over its lines not yet started, in minutes; negative: still
    # ahead of time. None when no line waits.
    behind_median_minutes: float | None


def station_loads(lines: Iterable[OpenLine], now: datetime) -> dict[str, StationLoad]:
    """Per station with open lines: how many, the work they represent, and how far behind start-by."""
    by_station: dict[str, list[OpenLine]] = defaultdict(list)
    for line in lines:
        by_station[line.station].append(line)
    loads = {}
    for station, found in sorted(by_station.items()):
        waiting = [(now - line.start_by).total_seconds() / 60 for line in found if line.started_at is None]
        loads[station] = StationLoad(
            station=station,
            open_lines=len(found),
            work_seconds=sum(remaining_seconds(line, now) for line in found),
            behind_median_minutes=round(statistics.median(waiting), 1) if waiting else None,
        )
    return loads


def most_at_once(stays: Iterable[tuple[datetime, datetime]]) -> int:
    """The most stays [start, end) that overlap at one moment (a stay that ends as another starts
    does not overlap it)."""
    moments = sorted([(start, 1) for start, _ in stays] + [(end, -1) for _, end in stays])
    # At the same moment the end (-1) sorts before the start (+1).
    at_once = most = 0
    for _, step in moments:
        at_once += step
        most = max(most, at_once)
    return most


@dataclass(frozen=True, slots=True)
class TypicalLine:
    plu: str
    name: str
    station: str
    prep: PrepTime


def typical_size(orders_by_line_count: Mapping[int, int]) -> int:
    """How many lines a typical order has: the median lines per order (halves rounded up), at least 1."""
    counts = sorted(orders_by_line_count.items())
    total = sum(n for _, n in counts)
    if not total:
        return 1
    values = [lines for lines, n in counts for _ in range(n)]
    return max(1, math.floor(statistics.median(values) + 0.5))


def most_common(plu_orders: Mapping[str, int], size: int) -> list[str]:
    """The `size` PLUs in the most orders (ties: by PLU)."""
    return [plu for plu, _ in sorted(plu_orders.items(), key=lambda item: (-item[1], item[0]))[:size]]


def quote_seconds(
    lines: Sequence[TypicalLine], work: Mapping[str, float], cooks: Mapping[str, int], pack_seconds: float
) -> float:
    """Seconds until a new order of `lines` would be ready to hand over, started now.

    Per station it uses: the work ahead shared among its cooks, then its own lines (their sum shared
    among the cooks, at least the longest one); the slowest station, then packing.
    """
    own: dict[str, list[float]] = defaultdict(list)
    for line in lines:
        own[line.station].append(line.prep.seconds)
    slowest = 0.0
    for station, preps in own.items():
        hands = max(1, cooks.get(station, 1))
        done = work.get(station, 0.0) / hands + max(max(preps), sum(preps) / hands)
        slowest = max(slowest, done)
    return slowest + pack_seconds


def minutes(seconds: float) -> float:
    """Seconds as the quote's minutes, to a tenth."""
    return round(seconds / 60, 1)


# A busy brand is normal again only once its quote is below this share of the threshold: a quote
# hovering at the threshold would otherwise flip the flag, and the channels' promise, every turn.
NORMAL_AGAIN_BELOW = 0.8


def is_busy(quote_minutes: float, threshold_minutes: float, was_busy: bool = False) -> bool:
    """A brand turns busy when its quote is over the threshold (KITCHEN_BUSY_QUOTE_MINUTES), and
    stays busy until the quote is below `NORMAL_AGAIN_BELOW` of it (45 min: busy over 45, normal
    again under 36)."""
    if was_busy:
        return quote_minutes >= threshold_minutes * NORMAL_AGAIN_BELOW
    return quote_minutes > threshold_minutes


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """percentile_cont: linear interpolation between the two nearest ranks; None of nothing."""
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Accuracy:
    """How far the quotes were from the actual ready times, in minutes (error = actual - quoted)."""

    orders: int
    median_abs_error: float | None
    p90_abs_error: float | None
    median_error: float | None  # signed: above 0, orders took longer than quoted


def accuracy(errors: Sequence[float]) -> Accuracy:
    """The median and 90th percentile of the absolute errors, and the signed median, to a tenth."""

    def tenth(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    absolute = [abs(error) for error in errors]
    return Accuracy(
        orders=len(errors),
        median_abs_error=tenth(percentile(absolute, 0.5)),
        p90_abs_error=tenth(percentile(absolute, 0.9)),
        median_error=tenth(percentile(errors, 0.5)),
    )
