"""The analytics summary tables: written with each change, in its transaction, equal to the history.

The figures themselves are specified in test_analytics.py; these tests pin down the tables they
read: what the order service writes with each change equals what the migration's backfill
computes from the history, and a change that is refused, repeated or rolled back writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from kitchen.orders.service import OrderChanged, OrderService
from kitchen.orders.stores import store_for
from kitchen.orders.summaries.backfill import backfill
from kitchen.orders.summaries.buckets import bucket_of_seconds
from kitchen.orders.summaries.fold import fold_shards
from kitchen.orders.summaries.tables import (
    AnalyticsCustomer,
    AnalyticsHistogram,
    AnalyticsQuarterHour,
    AnalyticsSample,
)
from tests.conftest import FakeClock
from tests.helpers import create_order, set_item, set_order

pytestmark = pytest.mark.anyio

SOUP = [{"plu": "SOUP", "name": "Salmon Soup", "quantity": 1}]


async def snapshot(conn: AsyncConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Every summary as the figures read it (the shards of a counter added up), without ids,
    floats to the microsecond, sorted."""
    s, h, q, c = AnalyticsSample, AnalyticsHistogram, AnalyticsQuarterHour, AnalyticsCustomer
    samples = await conn.execute(select(s.measure, s.key, s.label, s.brand_id, s.created_at, s.seconds, s.bucket))
    bucket = (h.span, h.measure, h.period, h.brand_id, h.key, h.label, h.bucket)
    histograms = await conn.execute(
        select(*bucket, func.sum(h.count), func.sum(h.total), func.min(h.low), func.max(h.high)).group_by(*bucket)
    )
    quarters = await conn.execute(
        select(q.quarter, q.brand_id, func.sum(q.received), func.sum(q.ready)).group_by(q.quarter, q.brand_id)
    )
    customers = await conn.execute(
        select(
            c.account, c.brand_id, func.sum(c.orders), func.min(c.first_order_at), func.max(c.last_order_at)
        ).group_by(c.account, c.brand_id)
    )

    def rounded(rows: Sequence[Any]) -> list[tuple[Any, ...]]:
        return sorted(tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows)

    return {
        "samples": rounded(samples.all()),
        "histograms": rounded(histograms.all()),
        "quarters": rounded(quarters.all()),
        "customers": rounded(customers.all()),
    }


async def summary_rows(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    async with engine.connect() as conn:
        return await snapshot(conn)


async def kitchen_day(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """Timelines with every rule the summaries must follow, over two brands and two UTC days."""
    reported = [{"status": 1, "timestamp": "2026-03-02T09:40:00Z"}, {"status": 3, "timestamp": "2026-03-02T09:50:00Z"}]
    bumped = await create_order(client, statusHistory=reported)  # channel history: never summarized
    clock.advance(42.5)
    assert (await set_item(client, bumped["id"], "BB-1", "PREPARING")).status_code == 200
    clock.advance(100.25)
    assert (await set_order(client, bumped["id"], "READY")).status_code == 200  # the bump
    clock.advance(30)
    assert (await set_order(client, bumped["id"], "PREPARING")).status_code == 200  # recall
    clock.advance(30)
    assert (await set_order(client, bumped["id"], "READY")).status_code == 200  # ready again: not a first READY
    clock.advance(60)
    assert (await set_order(client, bumped["id"], "PICKED_UP")).status_code == 200

    soup = await create_order(client, brandId="brand-soups", items=SOUP, pickupTime="2026-03-02T09:00:00Z")
    for wait, status in ((10, "PREPARING"), (20.000001, "READY"), (5, "PREPARING"), (7, "READY")):  # an undo
        clock.advance(wait)
        assert (await set_item(client, soup["id"], "SOUP", status)).status_code == 200

    cancelled = await create_order(client)
    clock.advance(61)
    assert (await set_order(client, cancelled["id"], "CANCELLED")).status_code == 200

    clock.now = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # an order of the same customer, stamped earlier
    await create_order(client)
    clock.now = datetime(2026, 3, 3, 23, 59, 50, tzinfo=UTC)  # another day, and a quarter hour boundary crossed
    late = await create_order(client, pickupTime="2026-03-04T00:00:00Z")
    clock.advance(20)
    assert (await set_order(client, late["id"], "READY")).status_code == 200


async def test_summaries_written_with_each_change_equal_the_backfill_from_history(
    client: httpx.AsyncClient, clock: FakeClock, engine: AsyncEngine
) -> None:
    await kitchen_day(client, clock)
    written = await summary_rows(engine)

    async with engine.begin() as conn:
        await conn.run_sync(backfill)
    backfilled = await summary_rows(engine)

    assert written["samples"], "the changes wrote summary rows"
    assert {row[0] for row in written["samples"]} == {
        "order_status",
        "item_status",
        "item_ready",
        "item_bumped",
        "order_ready",
        "ticket",
    }
    assert written == backfilled


async def test_a_stay_sample_is_exact_to_the_microsecond_and_counted_in_its_bucket(
    client: httpx.AsyncClient, clock: FakeClock, engine: AsyncEngine
) -> None:
    order = await create_order(client, items=SOUP)
    clock.advance(59.999999)
    assert (await set_item(client, order["id"], "SOUP", "PREPARING")).status_code == 200

    samples = (await summary_rows(engine))["samples"]

    assert (
        "item_status",
        "ORDERED",
        "",
        "brand-burgers",
        clock.now.replace(second=0, microsecond=0),
        59.999999,
        bucket_of_seconds(59.999999),
    ) in [row[:7] for row in samples]


async def test_a_refused_change_writes_no_summary(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    order = await create_order(client)
    before = await summary_rows(engine)

    assert (await set_order(client, order["id"], "PICKED_UP")).status_code == 409
    assert (await set_item(client, order["id"], "NO-SUCH-PLU", "PREPARING")).status_code == 404

    assert await summary_rows(engine) == before


async def test_a_repeated_status_writes_no_summary(
    client: httpx.AsyncClient, clock: FakeClock, engine: AsyncEngine
) -> None:
    order = await create_order(client)
    clock.advance(10)
    assert (await set_order(client, order["id"], "PREPARING")).status_code == 200
    before = await summary_rows(engine)

    clock.advance(10)
    assert (await set_order(client, order["id"], "PREPARING")).status_code == 200

    assert await summary_rows(engine) == before


class FailingFeed:
    """A feed whose in-transaction NOTIFY fails, so the change is never committed: PostgreSQL
    refuses an empty channel name, and SQLite has no pg_notify at all."""

    def notice(self, change: OrderChanged) -> tuple[str, str]:
        return "", "the transaction fails before its commit"

    async def after_commit(self, change: OrderChanged) -> None:
        raise AssertionError("never reached")


async def test_a_change_rolled_back_leaves_no_summary(
    client: httpx.AsyncClient, clock: FakeClock, engine: AsyncEngine, app: Litestar
) -> None:
    order = await create_order(client)
    before = await summary_rows(engine)

    clock.advance(30)
    async with AsyncSession(engine) as session:
        orders = OrderService(session, store_for(engine.dialect.name), clock=clock, feed=FailingFeed())
        with pytest.raises(DBAPIError):
            await orders.set_order_status(order["id"], "READY")

    assert await summary_rows(engine) == before
    assert (await client.get(f"/api/orders/{order['id']}")).json()["status"] == "RECEIVED"


async def test_figures_over_months_days_and_loose_ends_follow_a_known_timeline(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    # Read from the January loose end and days, the February month row, a March day, the March loose end.
    for created, wait in (
        (datetime(2026, 1, 15, 10, 0, tzinfo=UTC), 60),
        (datetime(2026, 2, 10, 10, 0, tzinfo=UTC), 120),
        (datetime(2026, 3, 1, 10, 0, tzinfo=UTC), 180),
        (datetime(2026, 3, 2, 10, 0, tzinfo=UTC), 240),
    ):
        clock.now = created
        order = await create_order(client, pickupTime=created.isoformat())
        clock.advance(wait)
        assert (await set_order(client, order["id"], "PREPARING")).status_code == 200
        clock.advance(wait)
        assert (await set_order(client, order["id"], "READY")).status_code == 200

    params = {"from": "2026-01-15T09:00:00Z", "to": "2026-03-02T12:00:00Z"}
    durations = (await client.get("/api/analytics/status-durations", params=params)).json()
    on_time = (await client.get("/api/analytics/on-time", params=params)).json()
    items = (await client.get("/api/analytics/items", params=params)).json()
    tickets = (await client.get("/api/analytics/ticket-times", params=params)).json()

    received = next(row for row in durations["orders"] if row["status"] == "RECEIVED")
    # 60, 120, 180, 240: p90 at position 2.7, between 180 and 240.
    assert (received["count"], received["avgSeconds"], received["p50Seconds"], received["p90Seconds"]) == (
        4,
        150.0,
        150.0,
        222.0,
    )
    assert (on_time["orders"], on_time["onTime"], on_time["lateP50Seconds"]) == (4, 0, 300.0)
    # Every order was bumped: its items are counted, not timed; the tickets took 120 to 480 s.
    assert {(item["plu"], item["count"], item["bumped"], item["p50Seconds"]) for item in items} == {
        ("BB-1", 0, 4, None),
        ("BB-2", 0, 4, None),
        ("BB-3", 0, 4, None),
    }
    assert tickets["cooked"]["count"] == 0
    assert (tickets["bumped"]["count"], tickets["bumped"]["p50Seconds"]) == (4, 300.0)


async def _unfolded(engine: AsyncEngine) -> int:
    """Counter rows in a shard other than 0."""
    count = 0
    async with engine.connect() as conn:
        for table in (AnalyticsHistogram, AnalyticsQuarterHour, AnalyticsCustomer):
            count += (await conn.execute(select(func.count()).select_from(table).where(table.shard != 0))).scalar_one()
    return count


async def test_folding_the_shards_keeps_every_figure(
    client: httpx.AsyncClient, clock: FakeClock, engine: AsyncEngine, server_url: str | None
) -> None:
    if server_url is None:
        pytest.skip("SQLite writes every counter to shard 0; shards are PostgreSQL's")
    await kitchen_day(client, clock)
    before = await summary_rows(engine)
    # A change picks one of 16 shards at random: dozens of counter rows all in shard 0 would be a bug.
    assert await _unfolded(engine) > 0

    async with engine.connect() as conn:
        assert await fold_shards(conn, clock.now)

    assert await _unfolded(engine) == 0
    assert await summary_rows(engine) == before


async def test_a_stay_from_the_last_millisecond_of_a_second_is_backfilled_exactly(
    client: httpx.AsyncClient, clock: FakeClock, engine: AsyncEngine
) -> None:
    # SQLite rounds a time to milliseconds before it counts whole seconds: 15.9998 s is not 16 s.
    clock.now = datetime(2026, 3, 2, 10, 0, 15, 999800, tzinfo=UTC)
    order = await create_order(client, items=SOUP)
    clock.advance(0.101981)
    assert (await set_item(client, order["id"], "SOUP", "PREPARING")).status_code == 200
    written = await summary_rows(engine)

    async with engine.begin() as conn:
        await conn.run_sync(backfill)

    assert ("item_status", "ORDERED", 0.101981) in [(r[0], r[1], r[5]) for r in written["samples"]]
    assert await summary_rows(engine) == written
