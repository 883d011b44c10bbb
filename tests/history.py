"""Probes of the stored history, for the tests that hammer it: read the rows with SQL, judge them here.

Independent of `kitchen.orders.integrity` on purpose: a test of the history must not trust the
checker it would also be testing.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kitchen.orders.summaries.backfill import backfill
from tests.test_analytics_summaries import snapshot

_STREAMS = (
    ("order", "SELECT order_id, id, status, at, ended_at FROM order_status_events", "SELECT id, status FROM orders"),
    ("item", "SELECT item_id, id, status, at, ended_at FROM item_status_events", "SELECT id, status FROM order_items"),
)


def _stream_faults(name: str, owner: Any, rows: Sequence[Any], current: str) -> list[str]:
    where = f"{name} {owner}"
    faults = []
    for before, after in itertools.pairwise(rows):
        if after.at < before.at:
            faults.append(f"{where}: row {after.id} at {after.at} is before row {before.id} at {before.at}")
        if before.ended_at != after.at:
            faults.append(f"{where}: row {before.id} ended {before.ended_at}, the next began {after.at}")
        if after.status == before.status:
            faults.append(f"{where}: {after.status} written twice in a row (rows {before.id}, {after.id})")
    for row in rows:
        if row.ended_at is not None and row.ended_at < row.at:
            faults.append(f"{where}: row {row.id} ends before it begins")
    open_stays = [row.id for row in rows if row.ended_at is None]
    if open_stays != [rows[-1].id]:
        faults.append(f"{where}: open stays {open_stays}, expected only the last row {rows[-1].id}")
    if rows[-1].status != current:
        faults.append(f"{where}: history ends {rows[-1].status}, but it is {current} now")
    return faults


async def history_faults(engine: AsyncEngine) -> list[str]:
    """Every server-stamped stream, in the order written (by id), judged row by row: `at` never
    goes back, each stay ends when the next begins, no negative stay, no status twice in a row,
    exactly one open stay (the last), and that last status is the order's or item's status now."""
    faults: list[str] = []
    async with engine.connect() as conn:
        for name, rows_sql, owners_sql in _STREAMS:
            current = {row[0]: row[1] for row in await conn.execute(text(owners_sql))}
            rows = (await conn.execute(text(f"{rows_sql} WHERE source <> 'channel' ORDER BY 1, id"))).all()
            streams: dict[Any, list[Any]] = {}
            for row in rows:
                streams.setdefault(row[0], []).append(row)
            for owner, stream in streams.items():
                faults += _stream_faults(name, owner, stream, current[owner])
    return faults


async def summaries_and_recomputation(engine: AsyncEngine) -> tuple[dict[str, Any], dict[str, Any]]:
    """The summary tables as the changes wrote them, and as the backfill computes them from the
    raw history (in a transaction that is rolled back, so nothing changes)."""
    async with engine.connect() as conn:
        written = await snapshot(conn)
        await conn.rollback()
        await conn.run_sync(backfill)
        recomputed = await snapshot(conn)
        await conn.rollback()
    return written, recomputed
