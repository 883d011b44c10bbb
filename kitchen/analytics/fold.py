"""Folding the shards of the summary counters back into one row each (PostgreSQL).

A status change adds to its counters in a random one of `SUMMARY_SHARDS` rows, so that
concurrent changes seldom wait for each other's row locks (summaries.py). Left alone, a month's
bucket would end up as up to 16 rows, and the dashboard's long ranges would read up to 16 times
as many. Every few minutes each app process folds the recent shards into shard 0, one
transaction per table: the rows are deleted and their sums added in the same statement, so the
figures, which add the shards up, never see a half-folded counter.

Only recent counters are looked at (orders created in the last few days, customers who ordered
then): changes happen to recent orders, and a bounded scan keeps this cheap on a large history.

No deadlock with the changes: this takes the shard rows with SKIP LOCKED (it never waits for
them) and adds to shard 0 in key order, the order in which changes take their rows too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kitchen.analytics.summaries import (
    ITEM_READY,
    ITEM_STATUS,
    ORDER_READY,
    ORDER_STATUS,
    day_number,
    month_number,
    quarter_number,
)

log = logging.getLogger("kitchen.analytics")

FOLD_SECONDS = 300.0
# How far back a change may still add to counters: orders live for hours, not days.
RECENT = timedelta(days=3)
# Folds in one process at a time: the others skip their turn.
_FOLD_LOCK = 7_201_101

_HISTOGRAM_KEY = "span, measure, period, brand_id, key, label, second"
_FOLD_HISTOGRAMS = text(
    f"""
WITH moved AS (
    DELETE FROM analytics_histograms
    WHERE ({_HISTOGRAM_KEY}, shard) IN (
        SELECT {_HISTOGRAM_KEY}, shard FROM analytics_histograms
        WHERE span = :span AND measure IN (:m1, :m2, :m3, :m4) AND period >= :period AND shard <> 0
        FOR UPDATE SKIP LOCKED
    )
    RETURNING {_HISTOGRAM_KEY}, count, total
)
INSERT INTO analytics_histograms ({_HISTOGRAM_KEY}, shard, count, total)
SELECT {_HISTOGRAM_KEY}, 0, sum(count), sum(total) FROM moved
GROUP BY {_HISTOGRAM_KEY} ORDER BY {_HISTOGRAM_KEY}
ON CONFLICT ({_HISTOGRAM_KEY}, shard) DO UPDATE
SET count = analytics_histograms.count + excluded.count, total = analytics_histograms.total + excluded.total
"""
)
_FOLD_QUARTER_HOURS = text(
    """
WITH moved AS (
    DELETE FROM analytics_quarter_hours
    WHERE (quarter, brand_id, shard) IN (
        SELECT quarter, brand_id, shard FROM analytics_quarter_hours
        WHERE quarter >= :quarter AND shard <> 0
        FOR UPDATE SKIP LOCKED
    )
    RETURNING quarter, brand_id, received, ready
)
INSERT INTO analytics_quarter_hours (quarter, brand_id, shard, received, ready)
SELECT quarter, brand_id, 0, sum(received), sum(ready) FROM moved
GROUP BY quarter, brand_id ORDER BY quarter, brand_id
ON CONFLICT (quarter, brand_id, shard) DO UPDATE
SET received = analytics_quarter_hours.received + excluded.received,
    ready = analytics_quarter_hours.ready + excluded.ready
"""
)
_FOLD_CUSTOMERS = text(
    """
WITH moved AS (
    DELETE FROM analytics_customers
    WHERE (account, brand_id, shard) IN (
        SELECT account, brand_id, shard FROM analytics_customers
        WHERE last_order_at >= :since AND shard <> 0
        FOR UPDATE SKIP LOCKED
    )
    RETURNING account, brand_id, orders, first_order_at, last_order_at
)
INSERT INTO analytics_customers (account, brand_id, shard, orders, first_order_at, last_order_at)
SELECT account, brand_id, 0, sum(orders), min(first_order_at), max(last_order_at) FROM moved
GROUP BY account, brand_id ORDER BY account, brand_id
ON CONFLICT (account, brand_id, shard) DO UPDATE
SET orders = analytics_customers.orders + excluded.orders,
    first_order_at = LEAST(analytics_customers.first_order_at, excluded.first_order_at),
    last_order_at = GREATEST(analytics_customers.last_order_at, excluded.last_order_at)
"""
)


async def fold_shards(conn: AsyncConnection, now: datetime) -> bool:
    """Fold the recent shards of every counter into shard 0; False when another process is at it.

    Commits a transaction per table (the connection must not be in one of its own).
    """
    since = now - RECENT
    measures = {"m1": ORDER_STATUS, "m2": ITEM_STATUS, "m3": ITEM_READY, "m4": ORDER_READY}
    folds: list[tuple[TextClause, dict[str, Any]]] = [
        (_FOLD_HISTOGRAMS, {"span": "day", "period": day_number(since), **measures}),
        (_FOLD_HISTOGRAMS, {"span": "month", "period": month_number(since), **measures}),
        (_FOLD_QUARTER_HOURS, {"quarter": quarter_number(since)}),
        (_FOLD_CUSTOMERS, {"since": since}),
    ]
    for fold, params in folds:
        async with conn.begin():
            if not (await conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _FOLD_LOCK})).scalar():
                return False
            await conn.execute(fold, params)
    return True


class ShardFolder:
    """Runs `fold_shards` every FOLD_SECONDS in the background, on PostgreSQL only."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime], every: float = FOLD_SECONDS) -> None:
        self.engine = engine
        self.clock = clock
        self.every = every
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.engine.dialect.name == "postgresql":
            self._task = asyncio.create_task(self._run(), name="analytics-fold")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                async with self.engine.connect() as conn:
                    await fold_shards(conn, self.clock())
            except Exception:
                # The database may be away (a restart); the next turn tries again.
                log.warning("could not fold the analytics shards", exc_info=True)
