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

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kitchen.every import Every
from kitchen.metrics import FOLD_RUNS
from kitchen.orders.summaries.tables import (
    CUSTOMERS,
    HISTOGRAMS,
    MEASURES,
    QUARTER_HOURS,
    CounterTable,
    day_number,
    month_number,
    quarter_number,
)

FOLD_SECONDS = 300.0
# How far back a change may still add to counters: orders live for hours, not days.
RECENT = timedelta(days=3)
# Folds in one process at a time: the others skip their turn.
_FOLD_LOCK = 7_201_101


def _fold(counter: CounterTable, recent: str) -> TextClause:
    """Delete the shard rows (other than 0) matching `recent` and add their sums to shard 0."""
    key, values = ", ".join(counter.key), ", ".join(counter.values)
    return text(
        f"""
WITH moved AS (
    DELETE FROM {counter.name}
    WHERE ({key}, shard) IN (
        SELECT {key}, shard FROM {counter.name} WHERE {recent} AND shard <> 0 FOR UPDATE SKIP LOCKED
    )
    RETURNING {key}, {values}
)
INSERT INTO {counter.name} ({key}, shard, {values})
SELECT {key}, 0, {counter.aggregates()} FROM moved GROUP BY {key} ORDER BY {key}
{counter.on_conflict()}
"""
    )


# Each `recent` condition is one the table's indexes answer without reading the whole history.
_MEASURE_NAMES = {f"m{n}": measure for n, measure in enumerate(MEASURES)}
_FOLD_HISTOGRAMS = _fold(
    HISTOGRAMS,
    f"span = :span AND measure IN ({', '.join(':' + name for name in _MEASURE_NAMES)}) AND period >= :period",
)
_FOLD_QUARTER_HOURS = _fold(QUARTER_HOURS, "quarter >= :quarter")
_FOLD_CUSTOMERS = _fold(CUSTOMERS, "last_order_at >= :since")


async def fold_shards(conn: AsyncConnection, now: datetime) -> bool:
    """Fold the recent shards of every counter into shard 0; False when another process is at it.

    Commits a transaction per table (the connection must not be in one of its own).
    """
    since = now - RECENT
    measures = _MEASURE_NAMES
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
        self._every = Every(every, self.fold, "analytics-fold", at_once=False)

    async def fold(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await fold_shards(conn, self.clock())
        except Exception:
            FOLD_RUNS.labels("failed").inc()
            raise
        FOLD_RUNS.labels("folded").inc()

    async def start(self) -> None:
        if self.engine.dialect.name == "postgresql":
            await self._every.start()

    async def stop(self) -> None:
        await self._every.stop()
