"""Fill a PostgreSQL database with 180 days of realistic kitchen history, fast, with COPY.

    .venv/bin/python bench/analytics_fill.py [--orders 1000000] [--days 180] [--database kitchen_analytics_bench]

Drops and recreates the database on 127.0.0.1:5432 (user postgres), migrates it to the revision
before `analytics summaries`, drops its secondary indexes, COPYs orders, items and both history
streams in chunks with asyncpg's copy_records_to_table (foreign-key triggers off for the load),
rebuilds the indexes, then migrates to head, so that migration's backfill fills the summary
tables from the history exactly as it would in production, and runs VACUUM ANALYZE.
Each order goes RECEIVED -> PREPARING -> READY -> PICKED_UP with its items
ORDERED -> PREPARING -> READY, every row with its `ended_at`; some items are undone after READY
(the order is then recalled and bumped again), some orders are cancelled, some arrive with
channel-reported history, and the orders of the last two hours are still in the kitchen.
Arrivals follow lunch and dinner peaks in Helsinki time; customers follow a long-tailed
distribution (most order once, a few order every week).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
from alembic import command
from alembic.config import Config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
HELSINKI = ZoneInfo("Europe/Helsinki")
CHUNK = 20_000

BRANDS = {
    "brand-burgers": ("BB", 45),  # PLU prefix, ordering weight
    "brand-sushi": ("SS", 25),
    "brand-pizza": ("PZ", 35),
    "brand-bowls": ("BW", 20),
    "brand-wings": ("WG", 15),
    "brand-breakfast": ("BF", 10),
}
# Hour of the day (local) -> relative arrival rate: lunch and dinner peaks.
HOURLY = [1, 0, 0, 0, 0, 0, 1, 2, 3, 4, 6, 12, 14, 9, 5, 5, 8, 14, 16, 13, 9, 6, 4, 2]


@dataclass
class Rows:
    orders: list[tuple] = field(default_factory=list)
    items: list[tuple] = field(default_factory=list)
    order_events: list[tuple] = field(default_factory=list)
    item_events: list[tuple] = field(default_factory=list)


@dataclass
class Ids:
    item: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    order_event: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    item_event: Iterator[int] = field(default_factory=lambda: itertools.count(1))


def menus(rng: random.Random) -> dict[str, list[tuple[str, str, float]]]:
    """Per brand: (PLU, name, mean cooking seconds) for 15 dishes."""
    return {
        brand: [(f"{prefix}-{n:04}", f"{prefix} dish {n}", rng.uniform(240, 1200)) for n in range(1, 16)]
        for brand, (prefix, _) in BRANDS.items()
    }


def arrival_times(rng: random.Random, count: int, start: datetime, days: int) -> list[datetime]:
    """`count` arrival times over `days` days from `start`, busier at meal times and weekends."""
    hour_weights = list(itertools.accumulate(HOURLY))
    moments = []
    for _ in range(count):
        day = rng.randrange(days)
        local_day = (start + timedelta(days=day)).astimezone(HELSINKI).replace(hour=0, minute=0, second=0)
        if local_day.weekday() >= 4 and rng.random() < 0.25:  # Fri-Sun are busier: re-draw fewer
            day = rng.randrange(days)
            local_day = (start + timedelta(days=day)).astimezone(HELSINKI).replace(hour=0, minute=0, second=0)
        hour = bisect.bisect_right(hour_weights, rng.random() * hour_weights[-1])
        local = local_day.replace(tzinfo=None) + timedelta(hours=hour, seconds=rng.uniform(0, 3600))
        moments.append(local.replace(tzinfo=HELSINKI).astimezone(UTC))
    moments.sort()
    return moments


def customer_picker(rng: random.Random, customers: int) -> list[float]:
    """Cumulative weights of a long tail: a few regulars, most customers once or twice."""
    return list(itertools.accumulate(1.0 / (n + 10) ** 1.1 for n in range(customers)))


def build_order(
    rng: random.Random,
    n: int,
    created: datetime,
    now: datetime,
    account: str,
    brand: str,
    menu: list[tuple[str, str, float]],
    ids: Ids,
    rows: Rows,
) -> None:
    order_id = f"bench-{n:08}"
    source = "board" if rng.random() < 0.6 else "api"
    pickup = created + timedelta(seconds=rng.uniform(15 * 60, 40 * 60))
    dishes = rng.sample(menu, k=rng.choices((1, 2, 3, 4, 5), weights=(10, 20, 35, 20, 15))[0])
    order_events: list[tuple[str, datetime]] = [("RECEIVED", created)]
    if rng.random() < 0.1:  # the channel reported its own history: kept, never used
        rows.order_events.append(
            (next(ids.order_event), order_id, "RECEIVED", created - timedelta(seconds=90), None, "channel")
        )
    in_kitchen = (now - created).total_seconds() < 2 * 3600
    cancelled = rng.random() < 0.04
    item_timelines: list[list[tuple[str, datetime]]] = []
    start = created + timedelta(seconds=rng.expovariate(1 / 90))
    if cancelled:
        at = created + timedelta(seconds=rng.uniform(60, 900))
        order_events.append(("CANCELLED", at))
        item_timelines = [[("ORDERED", created), ("CANCELLED", at)] for _ in dishes]
        final = "CANCELLED"
    else:
        recall_at: datetime | None = None
        first_ready: list[datetime] = []
        last_ready: list[datetime] = []
        for _, _, cook in dishes:
            begin = start + timedelta(seconds=rng.uniform(0, 120))
            ready = begin + timedelta(seconds=cook * rng.lognormvariate(0, 0.35))
            timeline = [("ORDERED", created), ("PREPARING", begin), ("READY", ready)]
            first_ready.append(ready)
            if rng.random() < 0.03:  # undone after READY, then finished again
                back = ready + timedelta(seconds=rng.uniform(20, 180))
                again = back + timedelta(seconds=rng.uniform(60, 300))
                timeline += [("PREPARING", back), ("READY", again)]
                recall_at = back if recall_at is None else min(recall_at, back)
                last_ready.append(again)
            else:
                last_ready.append(ready)
            item_timelines.append(timeline)
        order_events.append(("PREPARING", start))
        order_ready = max(first_ready)
        order_events.append(("READY", order_ready))
        if recall_at is not None and recall_at > order_ready:
            order_events += [("PREPARING", recall_at), ("READY", max(last_ready))]
        picked_up = max(last_ready) + timedelta(seconds=rng.expovariate(1 / 300))
        order_events.append(("PICKED_UP", picked_up))
        final = "PICKED_UP"
    if in_kitchen:  # still on the boards: nothing after now
        order_events = [(s, at) for s, at in order_events if at <= now]
        item_timelines = [[(s, at) for s, at in timeline if at <= now] for timeline in item_timelines]
        final = order_events[-1][0]

    rows.orders.append(
        (
            order_id,
            account,
            brand,
            f"CH-{n:08}",
            "Bench Customer",
            None,
            None,
            "Helsinki",
            None,
            pickup,
            created,
            final,
            len(order_events),
            "0" * 64,
            created,
            order_events[-1][1],
        )
    )
    for (status, at), following in itertools.zip_longest(order_events, order_events[1:]):
        rows.order_events.append(
            (next(ids.order_event), order_id, status, at, following[1] if following else None, source)
        )
    for (plu, name, _), timeline in zip(dishes, item_timelines, strict=True):
        item_id = next(ids.item)
        rows.items.append((item_id, order_id, plu, name, rng.choice((1, 1, 1, 2)), timeline[-1][0]))
        for (status, at), following in itertools.zip_longest(timeline, timeline[1:]):
            rows.item_events.append(
                (next(ids.item_event), item_id, order_id, status, at, following[1] if following else None, source)
            )


ORDER_COLUMNS = [
    "id",
    "account",
    "brand_id",
    "channel_order_id",
    "customer_name",
    "customer_phone",
    "delivery_street",
    "delivery_city",
    "delivery_postal_code",
    "pickup_time",
    "channel_created_at",
    "status",
    "version",
    "payload_hash",
    "created_at",
    "updated_at",
]


async def copy(conn: asyncpg.Connection, rows: Rows) -> None:
    await conn.copy_records_to_table("orders", records=rows.orders, columns=ORDER_COLUMNS)
    await conn.copy_records_to_table(
        "order_items", records=rows.items, columns=["id", "order_id", "plu", "name", "quantity", "status"]
    )
    await conn.copy_records_to_table(
        "order_status_events",
        records=rows.order_events,
        columns=["id", "order_id", "status", "at", "ended_at", "source"],
    )
    await conn.copy_records_to_table(
        "item_status_events",
        records=rows.item_events,
        columns=["id", "item_id", "order_id", "status", "at", "ended_at", "source"],
    )


async def recreate_database(name: str) -> str:
    admin = await asyncpg.connect(SERVER)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return SERVER.rsplit("/", 1)[0] + f"/{name}"


# The last revision without the analytics summaries: the history is loaded there, then
# `analytics summaries` (and anything after it) runs its backfill over it.
BEFORE_SUMMARIES = "fd39749fbe12"


def migrate(url: str, revision: str = "head") -> None:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("postgresql://", "postgresql+asyncpg://"))
    command.upgrade(config, revision)


async def fill(url: str, orders: int, days: int, seed: int) -> None:
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(days=days)
    conn = await asyncpg.connect(url)
    try:
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            " AND indexname LIKE 'ix\\_%' AND tablename <> 'alembic_version'"
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        await conn.execute("SET session_replication_role = replica")  # no FK triggers during the load

        t0 = time.perf_counter()
        arrivals = arrival_times(rng, orders, start, days)
        customers = max(orders // 4, 1)
        weights = customer_picker(rng, customers)
        brand_names = list(BRANDS)
        brand_weights = [weight for _, weight in BRANDS.values()]
        menu = menus(rng)
        ids = Ids()
        print(f"arrivals drawn in {time.perf_counter() - t0:.1f} s")
        copied = 0
        for chunk_start in range(0, orders, CHUNK):
            rows = Rows()
            chunk = arrivals[chunk_start : chunk_start + CHUNK]
            accounts = rng.choices(range(customers), cum_weights=weights, k=len(chunk))
            brands = rng.choices(brand_names, weights=brand_weights, k=len(chunk))
            for offset, (created, account, brand) in enumerate(zip(chunk, accounts, brands, strict=True)):
                build_order(
                    rng, chunk_start + offset, created, now, f"acct-{account:07}", brand, menu[brand], ids, rows
                )
            async with conn.transaction():
                await copy(conn, rows)
            copied += len(chunk)
            if copied % 100_000 == 0 or copied == orders:
                print(f"{copied:>9} orders copied, {time.perf_counter() - t0:6.1f} s")
        await conn.execute("SET session_replication_role = DEFAULT")
        for table, column in (
            ("order_items", "id"),
            ("order_status_events", "id"),
            ("item_status_events", "id"),
        ):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), (SELECT max({column}) FROM {table}))"
            )
        t1 = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for index in indexes:
            await conn.execute(index["indexdef"])
        print(f"{len(indexes)} indexes rebuilt in {time.perf_counter() - t1:.1f} s")
        t2 = time.perf_counter()
        await asyncio.to_thread(migrate, url)  # alembic runs its own event loop
        print(f"migrated to head (summary backfill) in {time.perf_counter() - t2:.1f} s")
        t2 = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE)")
        print(f"VACUUM ANALYZE in {time.perf_counter() - t2:.1f} s; total {time.perf_counter() - t0:.1f} s")
        for table in (
            "orders",
            "order_items",
            "order_status_events",
            "item_status_events",
            "analytics_samples",
            "analytics_histograms",
            "analytics_quarter_hours",
            "analytics_customers",
        ):
            count = await conn.fetchval(f"SELECT count(*) FROM {table}")
            print(f"{table:>23}: {count:>10,} rows")
        print(f"data from {start.isoformat()} to {now.isoformat()}")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--database", default="kitchen_analytics_bench")
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args()
    url = asyncio.run(recreate_database(args.database))
    migrate(url, BEFORE_SUMMARIES)
    asyncio.run(fill(url, args.orders, args.days, args.seed))
    print(f"filled {url} ({math.ceil(args.orders / CHUNK)} chunks)")


if __name__ == "__main__":
    main()
