"""The kitchen's clock hours, as UTC instants: what throughput counts by.

Across a daylight-saving change the hours follow the clock: the hour that does not exist is
absent, the repeated one appears twice, each with its own offset.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

HOUR = 3600


def local_hour_start(moment: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the kitchen's clock hour containing `moment` began.

    The same arithmetic as the SQL of `AnalyticsQueries.throughput`: shift by the offset in
    force at that moment, floor to the hour, shift back.
    """
    offset = offset_seconds(moment, zone)
    epoch = math.floor(moment.timestamp())
    return datetime.fromtimestamp((epoch + offset) // HOUR * HOUR - offset, UTC)


def next_local_hour(hour: datetime, zone: ZoneInfo) -> datetime:
    """The start of the clock hour after the one starting at `hour`."""
    following = local_hour_start(hour + timedelta(seconds=HOUR), zone)
    return following if following > hour else hour + timedelta(seconds=HOUR)


def local_hours(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Start instants (UTC) of the kitchen's clock hours that overlap [start, end), oldest first."""
    hours: list[datetime] = []
    hour = local_hour_start(start, zone)
    while hour < end:
        hours.append(hour)
        hour = next_local_hour(hour, zone)
    return hours


def offset_seconds(moment: datetime, zone: ZoneInfo) -> int:
    """The zone's offset from UTC at `moment`, in seconds."""
    offset = moment.astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def offset_changes(hours: Sequence[datetime], zone: ZoneInfo) -> Iterator[tuple[int, int]]:
    """(epoch second, new UTC offset) of every change of the zone's offset among `hours`."""
    for earlier, later in itertools.pairwise(hours):
        before, after = offset_seconds(earlier, zone), offset_seconds(later, zone)
        if before == after:
            continue
        low, high = int(earlier.timestamp()), int(later.timestamp())
        while high - low > 1:  # the first second with the new offset
            middle = (low + high) // 2
            if offset_seconds(datetime.fromtimestamp(middle, UTC), zone) == before:
                low = middle
            else:
                high = middle
        yield high, after
