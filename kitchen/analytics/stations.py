"""Figures per station: how long its lines wait and cook, and how it keeps to start-by and prep targets.

A line belongs to the station its brand's menu routes its PLU to now (`unassigned` when none
does), as on the boards: a manager who fixes a menu sees the figures move with it.

These are computed by the database from the server-stamped item history of the range's orders
(not from the summary tables, which are keyed by status and PLU; a menu can re-route a PLU after
the fact), in two statements. Percentiles use the same duration buckets as every other figure
(`kitchen/orders/summaries/buckets.py`), so they carry the same bounded error.

For each station, over the lines of the orders created in the range:
- time in each item status, over the stays that have ended (as `status_durations`);
- started by start-by: of the lines started (a first PREPARING), how many by their start-by
  (pickup time less prep seconds less `KITCHEN_PACK_SECONDS`; a line with no prep time, by its
  pickup time), and the median of start minus start-by (negative: early);
- within target: of the lines with a prep time that were started and made READY, how many went
  from their first PREPARING to their first READY within it;
- on time: of the lines due (READY, or still open with their ready-by passed, the order neither
  final nor cancelled), how many were READY by their ready-by: the pickup time less packing,
  when the bag must be filled.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Double, Float, Integer, Select, String, case, cast, func, literal, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.analytics.percentiles import bucket_summary, rounded, summaries
from kitchen.analytics.periods import Period
from kitchen.analytics.schemas import StationFigures, StatusDuration
from kitchen.menu.models import MenuItem
from kitchen.menu.service import UNASSIGNED
from kitchen.orders.models import EventSource, ItemStatusEvent, Order, OrderItem
from kitchen.orders.status import ItemStatus, OrderStatus
from kitchen.orders.summaries.buckets import bucket_in_sql

ITEM_STATUSES = (ItemStatus.ORDERED, ItemStatus.PREPARING, ItemStatus.READY)
OPEN = (OrderStatus.RECEIVED, OrderStatus.PREPARING)
KEY_SEPARATOR = ":"  # between station and status in a stay's key; no station name holds it
# Inlined, not bound: PostgreSQL groups by these expressions, and two binds are two expressions.
_UNASSIGNED = literal_column(f"'{UNASSIGNED}'", String)
_SEPARATOR = literal_column(f"'{KEY_SEPARATOR}'", String)


def _epoch_text(moment: Any) -> Any:
    """SQLite: whole seconds since 1970 of a stored time, from its text cut at the second
    (strftime('%s') of the whole text would round the fraction first)."""
    return func.strftime("%s", func.substr(moment, 1, 19))


def seconds_between(dialect: str, start: Any, end: Any) -> Any:
    """SQL: the seconds from `start` to `end`, with their fractions, on either database."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", end - start), Double)
    whole = cast(_epoch_text(end), Float) - cast(_epoch_text(start), Float)
    return whole + (cast(func.substr(end, 20), Float) - cast(func.substr(start, 20), Float))


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _period_filter(statement: Select[Any], period: Period) -> Select[Any]:
    statement = statement.where(Order.created_at >= period.start, Order.created_at < period.end)
    if period.brand_ids:
        statement = statement.where(Order.brand_id.in_(period.brand_ids))
    return statement


def _station() -> Any:
    return func.coalesce(MenuItem.station, _UNASSIGNED)


def _routed(statement: Select[Any]) -> Select[Any]:
    """Items joined to their order and to the menu entry that routes them (if any)."""
    return statement.join(Order, Order.id == OrderItem.order_id).outerjoin(
        MenuItem, (MenuItem.brand_id == Order.brand_id) & (MenuItem.plu == OrderItem.plu)
    )


def _lines(period: Period) -> Any:
    """One row per line of the period's orders: its station and prep time, its order's pickup
    time and status, and its first server-stamped PREPARING and READY."""
    e = ItemStatusEvent
    first = {
        status: func.min(case((e.status == status, e.at))).label(name)
        for status, name in ((ItemStatus.PREPARING, "started_at"), (ItemStatus.READY, "ready_at"))
    }
    statement = (
        _routed(
            select(
                OrderItem.id,
                _station().label("station"),
                MenuItem.prep_seconds.label("prep"),
                Order.pickup_time.label("pickup_time"),
                Order.status.label("order_status"),
                OrderItem.status.label("item_status"),
                *first.values(),
            )
        )
        .outerjoin(e, (e.item_id == OrderItem.id) & (e.source != EventSource.CHANNEL))
        .group_by(OrderItem.id, _station(), MenuItem.prep_seconds, Order.pickup_time, Order.status, OrderItem.status)
    )
    return _period_filter(statement, period).subquery("lines")


async def station_figures(
    session: AsyncSession, period: Period, now: datetime, pack_seconds: int
) -> list[StationFigures]:
    """The figures of every station with lines in the period, by name (`unassigned` last)."""
    dialect = session.get_bind().dialect.name
    lines = _lines(period)
    pack = literal_column(str(int(pack_seconds)), Integer)
    # Start minus start-by: start minus pickup, plus the lead the line had (prep and packing).
    start_late = seconds_between(dialect, lines.c.pickup_time, lines.c.started_at) + case(
        (lines.c.prep.is_not(None), lines.c.prep + pack), else_=0
    )
    cooking = seconds_between(dialect, lines.c.started_at, lines.c.ready_at)
    ready_late = seconds_between(dialect, lines.c.pickup_time, lines.c.ready_at) + pack

    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    # One pass over the lines: per station and start-lateness bucket (NULL: not started), the
    # counts and the bucket's figures; then the counts per station beside the median lateness.
    started = lines.c.started_at.is_not(None)
    bucket = case((started, bucket_in_sql(start_late)))
    grouped = (
        select(
            lines.c.station.label("key"),
            literal("").label("label"),
            bucket.label("bucket"),
            func.count(lines.c.started_at).label("n"),
            func.sum(start_late).label("total"),
            func.min(start_late).label("low"),
            func.max(start_late).label("high"),
            func.count().label("lines"),
            count(start_late <= 0).label("started_by"),
            count(lines.c.prep.is_not(None) & lines.c.ready_at.is_not(None) & started).label("timed"),
            count(cooking <= lines.c.prep).label("within"),
            count(lines.c.ready_at.is_not(None)).label("ready"),
            count(ready_late <= 0).label("ready_on_time"),
            count(
                lines.c.ready_at.is_(None)
                & lines.c.order_status.in_(OPEN)
                & (lines.c.item_status != ItemStatus.READY)
                & (lines.c.pickup_time < now + timedelta(seconds=pack_seconds))
            ).label("open_late"),
        )
        .group_by(lines.c.station, bucket)
        .cte("grouped")
    )
    totals = (
        select(grouped.c.key.label("station"), *(func.sum(grouped.c[name]).label(name) for name in COUNTS))
        .group_by(grouped.c.key)
        .subquery("totals")
    )
    started_buckets = select(grouped).where(grouped.c.bucket.is_not(None)).subquery("started")
    lateness = bucket_summary(started_buckets).subquery("lateness")
    statement = select(totals, *(column for column in lateness.c if column.name not in COUNTS)).outerjoin(
        lateness, lateness.c.key == totals.c.station
    )
    rows = (await session.execute(statement)).all()
    late = summaries([row for row in rows if row.key is not None])
    stays = summaries(await session.execute(_stays(dialect, period)))
    return [
        _figures(row.station, {name: int(getattr(row, name) or 0) for name in COUNTS}, late.get(row.station), stays)
        for row in sorted(rows, key=lambda row: (row.station == UNASSIGNED, row.station))
    ]


# What `station_figures` counts per station; `n` is the lines started.
COUNTS = ("lines", "n", "started_by", "timed", "within", "ready", "ready_on_time", "open_late")


def _stays(dialect: str, period: Period) -> Select[Any]:
    """Per station and status: the ended server-stamped stays of the period's lines, as buckets."""
    e = ItemStatusEvent
    stay = seconds_between(dialect, e.at, e.ended_at)
    key = _station() + _SEPARATOR + e.status
    bucket = bucket_in_sql(stay)
    rows = _period_filter(
        _routed(
            select(
                key.label("key"),
                literal("").label("label"),
                bucket.label("bucket"),
                func.count().label("n"),
                func.sum(stay).label("total"),
                func.min(stay).label("low"),
                func.max(stay).label("high"),
            ).select_from(OrderItem)
        )
        .join(e, e.item_id == OrderItem.id)
        .where(e.source != EventSource.CHANNEL, e.ended_at.is_not(None))
        .group_by(key, bucket),
        period,
    )
    return bucket_summary(rows.subquery("buckets"))


def _figures(name: str, counts: dict[str, int], lateness: Any, stays: dict[str, Any]) -> StationFigures:
    lines, started, started_by, timed, within, ready, ready_on_time, open_late = (counts[c] for c in COUNTS)
    statuses = []
    for status in ITEM_STATUSES:
        found = stays.get(name + KEY_SEPARATOR + status)
        statuses.append(
            StatusDuration(
                status=status,
                count=found.n if found else 0,
                avg_seconds=rounded(found.mean) if found else None,
                p50_seconds=rounded(found.p50) if found else None,
                p90_seconds=rounded(found.p90) if found else None,
            )
        )
    return StationFigures(
        station=name,
        lines=lines,
        statuses=statuses,
        started=started,
        started_by_start_by=started_by,
        started_by_start_by_rate=rate(started_by, started),
        start_late_p50_seconds=rounded(lateness.p50) if lateness else None,
        timed=timed,
        within_target=within,
        within_target_rate=rate(within, timed),
        due=ready + open_late,
        on_time=ready_on_time,
        open_late=open_late,
        on_time_rate=rate(ready_on_time, ready + open_late),
    )


async def item_targets(session: AsyncSession, period: Period, plus: list[str]) -> dict[str, tuple[str, int | None]]:
    """Per PLU, the station a menu routes it to and its prep target (brands that disagree: the
    first station by name, the longest target), over the period's brands."""
    if not plus:
        return {}
    statement = (
        select(MenuItem.plu, func.min(MenuItem.station), func.max(MenuItem.prep_seconds))
        .where(MenuItem.plu.in_(plus))
        .group_by(MenuItem.plu)
    )
    if period.brand_ids:
        statement = statement.where(MenuItem.brand_id.in_(period.brand_ids))
    return {plu: (station, prep) for plu, station, prep in await session.execute(statement)}
