"""The date range and brands a figure covers, the limits on what may be asked, and its calendar.

A `Period` is [start, end) in UTC; `Spans` cuts one into the whole UTC months and days the
histograms hold and the loose ends the samples hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, SQLColumnExpression

from kitchen.clock import Clock
from kitchen.fields import FieldError
from kitchen.orders.models import ID_LENGTH
from kitchen.orders.schemas import as_utc
from kitchen.orders.summaries.tables import DAY, day_number, month_number, month_start

DEFAULT_RANGE = timedelta(hours=24)
LONGEST_RANGE = timedelta(days=731)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_BRANDS = 100


@dataclass(frozen=True, slots=True)
class Period:
    """The orders a figure covers: [start, end) in UTC, of `brand_ids` (empty: every brand)."""

    start: datetime
    end: datetime
    brand_ids: tuple[str, ...] = ()

    def brand_filter(self, brand_id: SQLColumnExpression[str]) -> list[ColumnElement[bool]]:
        """The conditions that keep the rows of the period's brands, by their `brand_id` column."""
        return [brand_id.in_(self.brand_ids)] if self.brand_ids else []


def asked_period(start: datetime | None, end: datetime | None, brand_ids: Sequence[str], clock: Clock) -> Period:
    """The range the caller asked for; naive times are UTC.

    `to` defaults to now and `from` to 24 hours before `to`.

    Raises FieldError (a parameter's) for times before 2000 or from 2100 on, `from` after `to`,
    ranges longer than two years and implausible brand lists.
    """
    try:
        end = as_utc(end, "to") if end is not None else None
        start = as_utc(start, "from") if start is not None else None
    except ValueError as exc:
        raise FieldError(str(exc).split(":", 1)[0], str(exc), parameter=True) from exc
    for field, moment in (("from", start), ("to", end)):
        if moment is not None and not EARLIEST <= moment < LATEST:
            raise FieldError(field, f"{field} must be in the years 2000 to 2099", parameter=True)
    end = end if end is not None else clock()
    start = start if start is not None else end - DEFAULT_RANGE
    if start > end:
        raise FieldError("from", "from must not be after to", parameter=True)
    if end - start > LONGEST_RANGE:
        raise FieldError("to", f"the range may span at most {LONGEST_RANGE.days} days", parameter=True)
    if len(brand_ids) > MAX_BRANDS:
        raise FieldError("brandId", f"at most {MAX_BRANDS} brands at once", parameter=True)
    for brand_id in brand_ids:
        if not 0 < len(brand_id) <= ID_LENGTH:
            raise FieldError("brandId", f"a brand id has 1 to {ID_LENGTH} characters", parameter=True)
    return Period(start, end, tuple(dict.fromkeys(brand_ids)))


def day_start(moment: datetime, up: bool = False) -> datetime:
    """Midnight UTC of `moment`'s day; with `up`, the next midnight unless `moment` is one."""
    day = day_number(moment)
    start = datetime.fromtimestamp(day * DAY, UTC)
    return start + timedelta(days=1) if up and start < moment else start


def next_day_start(moment: datetime) -> datetime:
    return day_start(moment, up=True)


def month_of(moment: datetime) -> datetime:
    """The first instant (UTC) of `moment`'s month."""
    return month_start(month_number(moment))


def next_month_start(moment: datetime) -> datetime:
    """`moment` if a month starts there, else the start of the month after."""
    first = month_of(moment)
    return first if first == moment else month_start(month_number(moment) + 1)


@dataclass(frozen=True, slots=True)
class Spans:
    """[start, end) cut into whole UTC months, whole UTC days and the loose ends."""

    months: tuple[int, int] | None  # [first, last) month numbers
    days: tuple[tuple[int, int], ...]  # [first, last) day numbers
    loose: tuple[tuple[datetime, datetime], ...]

    @classmethod
    def of(cls, start: datetime, end: datetime) -> Spans:
        first_day, last_day = day_start(start, up=True), day_start(end, up=False)
        if first_day >= last_day:
            return cls(None, (), ((start, end),) if start < end else ())
        loose = tuple((a, b) for a, b in ((start, first_day), (last_day, end)) if a < b)
        first_month = month_number(first_day) + (0 if first_day.day == 1 else 1)
        last_month = month_number(last_day)
        if first_month >= last_month:
            return cls(None, ((day_number(first_day), day_number(last_day)),), loose)
        days = tuple(
            (day_number(a), day_number(b))
            for a, b in ((first_day, month_start(first_month)), (month_start(last_month), last_day))
            if a < b
        )
        return cls((first_month, last_month), days, loose)
