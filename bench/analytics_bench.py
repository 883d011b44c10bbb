"""Time each analytics figure on the database bench/analytics_fill.py filled.

    .venv/bin/python bench/analytics_bench.py [--database kitchen_analytics_bench] [--runs 5]

Calls the query functions of kitchen.analytics.figures directly (no HTTP, no server): each
figure runs once to warm the cache, then `--runs` times, for the last 7 days, the last 7 days of
one brand, and the full range; it prints the median and the slowest run against the targets
(300 ms for 7 days, 1 s for the full range). With --explain it also prints PostgreSQL's plan of
every statement of the full-range run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from kitchen.analytics.figures import AnalyticsQueries
from kitchen.analytics.periods import Period
from kitchen.analytics.tuning import tune_postgresql
from kitchen.settings import Settings

TARGETS = {"7 days": 0.300, "7 days, 1 brand": 0.300, "full range": 1.0}
FIGURES: dict[str, Callable[[AnalyticsQueries, Period], Awaitable[Any]]] = {
    "status-durations": AnalyticsQueries.status_durations,
    "throughput": AnalyticsQueries.throughput,
    "customers": AnalyticsQueries.customers,
    "on-time": AnalyticsQueries.on_time,
    "items": AnalyticsQueries.slowest_items,
    "ticket-times": AnalyticsQueries.ticket_times,
    "brands": AnalyticsQueries.brands,
}


async def bench(database: str, runs: int, explain: bool) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        first, last = (await conn.execute(text("SELECT min(created_at), max(created_at) FROM orders"))).one()
    ranges = {
        "7 days": Period(last - timedelta(days=7), last + timedelta(seconds=1)),
        "7 days, 1 brand": Period(last - timedelta(days=7), last + timedelta(seconds=1), ("brand-pizza",)),
        "full range": Period(first, last + timedelta(seconds=1)),
    }
    zone = Settings().zone
    print(f"{database}: orders from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC; {runs} runs after 1 warm-up")
    print(f"{'figure':<18} {'range':<16} {'median':>9} {'slowest':>9}  target")
    failures = 0
    for label, period in ranges.items():
        for name, figure in FIGURES.items():
            times = []
            for run in range(runs + 1):
                async with AsyncSession(engine) as session:
                    queries = AnalyticsQueries(session, zone=zone, tuning=tune_postgresql)
                    started = time.perf_counter()
                    await figure(queries, period)
                    if run:
                        times.append(time.perf_counter() - started)
            median, slowest = statistics.median(times), max(times)
            verdict = "ok" if median <= TARGETS[label] else "MISSED"
            failures += verdict != "ok"
            print(f"{name:<18} {label:<16} {median * 1000:7.0f}ms {slowest * 1000:7.0f}ms  {verdict}")
    if explain:
        await explain_full_range(engine, ranges["full range"], zone)
    await engine.dispose()
    print(f"{failures} of {len(ranges) * len(FIGURES)} medians missed their target")


async def explain_full_range(engine: Any, period: Period, zone: Any) -> None:
    """Print EXPLAIN ANALYZE of every statement the figures run over the full range."""
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if not statement.startswith("EXPLAIN"):
            statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    async with AsyncSession(engine) as session:
        queries = AnalyticsQueries(session, zone=zone, tuning=tune_postgresql)
        for figure in FIGURES.values():
            await figure(queries, period)
    event.remove(engine.sync_engine, "before_cursor_execute", capture)
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        for statement, parameters in statements:
            plan = await raw.driver_connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *parameters)
            print("\n" + statement + "\n" + "\n".join(row[0] for row in plan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="kitchen_analytics_bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    asyncio.run(bench(args.database, args.runs, args.explain))


if __name__ == "__main__":
    main()
