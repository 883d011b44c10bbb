"""Time the manager dashboard page on the analytics benchmark database (1,000,000 orders).

    .venv/bin/python bench/analytics_fill.py       # once: fills kitchen_analytics_bench
    .venv/bin/python bench/dashboard_bench.py      # prints the median of 3 runs per range preset

The page is built as the /dashboard handler builds it (every figure for the range, then the
Jinja page with its SVG charts), in this process against PostgreSQL on 127.0.0.1; the clock is
set to the end of the data so "today" and "last 7 days" cover real orders. Target: under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from kitchen.analytics.figures import AnalyticsQueries
from kitchen.analytics.tuning import tune_postgresql
from kitchen.analytics.views import PRESETS, gather_figures, panels_context, period_of, read_filter
from kitchen.app import settle_garbage_collector
from kitchen.db import create_engine
from kitchen.orders.models import Order
from kitchen.pages import create_environment
from kitchen.settings import Settings

TARGET_MS = 1000


async def main(database: str, runs: int) -> None:
    settings = Settings(database_url=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}", secret_key="b" * 40)
    engine = create_engine(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        end_of_data = (await session.scalar(select(func.max(Order.created_at)))) or datetime.now(UTC)
    page = create_environment().get_template("dashboard/page.html")  # the app's one environment
    settle_garbage_collector()  # as the server does at start-up
    print(f"{database}: clock at {end_of_data:%Y-%m-%d %H:%M} UTC; median of {runs} runs after one warm-up")
    print(f"{'range':12} {'median':>8} {'slowest':>8}  target")
    for preset in ("today", "yesterday", "7d"):
        times = []
        for _ in range(runs + 1):
            started = time.perf_counter()
            async with sessions() as session:
                analytics = AnalyticsQueries(
                    session, clock=lambda: end_of_data, zone=settings.zone, tuning=tune_postgresql
                )
                chosen = read_filter(preset, None, None, [], settings, end_of_data)
                figures = await gather_figures(analytics, period_of(analytics, chosen, settings))
            page.render(
                chosen=chosen,
                csrf_token="t",
                presets=PRESETS,
                brands=[],
                settings=settings,
                **panels_context(figures, settings),
            )
            times.append((time.perf_counter() - started) * 1000)
        measured = times[1:]
        verdict = "ok" if statistics.median(measured) < TARGET_MS else "MISSED"
        print(f"{PRESETS[preset]:12} {statistics.median(measured):6.0f}ms {max(measured):6.0f}ms  {verdict}")
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="kitchen_analytics_bench")
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.database, arguments.runs))
