"""Prometheus metrics: what each process counts, and `GET /metrics`, behind its own token.

prometheus-client as its documentation shows: module-level counters, gauges and histograms,
exposed in the text format. Requests by route and status, with latency histograms, come from
Litestar's Prometheus middleware (`request_metrics`); the kitchen's own are below. With several
worker processes (`kitchen run --workers N`) the client's multiprocess mode is on: each worker
writes its values to files in `PROMETHEUS_MULTIPROC_DIR` (which `kitchen run` sets) and a scrape
of any worker sums them, so one scrape target sees the whole host.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kitchen.every import Every
from kitchen.orders.models import Order
from kitchen.webhooks.models import OutboxEvent, Webhook

log = logging.getLogger("kitchen.metrics")

STATUS_CHANGES = Counter(
    "kitchen_status_changes", "Status changes committed (a tap, a PATCH, an undo), by source.", ["source"]
)
ORDERS_CREATED = Counter("kitchen_orders_created", "New orders committed.")
CHANGES_PUBLISHED = Counter(
    "kitchen_changes_published", "Committed changes this process told the feed about (NOTIFY or publish)."
)
CHANGES_HEARD = Counter("kitchen_changes_heard", "Changes this process heard from the feed, to render for its boards.")
BOARD_EVENTS_SENT = Counter("kitchen_board_events_sent", "Events handed to open board streams.", ["event"])
BOARD_STREAMS = Gauge(
    "kitchen_board_streams", "Open board streams, by station.", ["station"], multiprocess_mode="livesum"
)
WEBHOOK_ATTEMPTS = Counter(
    "kitchen_webhook_attempts", "Webhook requests sent, by outcome (delivered, failed, dead).", ["outcome"]
)
FOLD_RUNS = Counter("kitchen_analytics_fold_runs", "Analytics shard folds run, by outcome.", ["outcome"])
DB_POOL = Gauge(
    "kitchen_db_pool_connections",
    "Database connections of the pool, by state: in_use, idle, overflow (beyond the pool size);"
    " waiting: requests waiting for one.",
    ["state"],
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "kitchen_db_pool_size", "Connections a process keeps (KITCHEN_DB_POOL_SIZE).", multiprocess_mode="max"
)

QUIET_BRANDS = Gauge(
    "kitchen_quiet_brands",
    "1 while a brand's silence is too long to be chance (a channel gone quiet), else 0.",
    ["brand"],
    multiprocess_mode="max",  # every process looks, and sees the same
)

# How often each process writes its pool's state (a scrape may reach another worker).
POOL_SAMPLE_SECONDS = 5.0
# Litestar's request metrics skip these: streams stay open for hours, and scrapes count nothing.
NOT_TIMED = ["^/metrics", "^/board/stream", "^/dashboard/stream", "^/static/"]


def request_metrics() -> PrometheusConfig:
    """Requests by method, route template (not the raw path: ids would explode the series) and status."""
    return PrometheusConfig(app_name="kitchen", prefix="kitchen", group_path=True, exclude=NOT_TIMED)


def multiprocess_mode() -> bool:
    return "PROMETHEUS_MULTIPROC_DIR" in os.environ


def process_stopped() -> None:
    """A worker that stops takes its live gauges (open streams, pool) out of the sums."""
    if multiprocess_mode():
        prometheus_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]  # untyped in the client


class PoolSampler:
    """Writes this process's pool state to `DB_POOL` every few seconds, in the background."""

    def __init__(self, engine: AsyncEngine, pool_size: int) -> None:
        self.engine = engine
        self.pool_size = pool_size
        self._every = Every(POOL_SAMPLE_SECONDS, self.sample, "metrics-pool-sampler", at_once=True)

    async def sample(self) -> None:
        pool: Any = self.engine.sync_engine.pool
        if not hasattr(pool, "checkedout"):
            return  # SQLite's pool has no fixed size to fill
        DB_POOL.labels("in_use").set(pool.checkedout())
        DB_POOL.labels("idle").set(pool.checkedin())
        DB_POOL.labels("overflow").set(max(pool.overflow(), 0))
        DB_POOL.labels("waiting").set(_waiting(pool))
        DB_POOL_SIZE.set(self.pool_size)

    async def start(self) -> None:
        await self._every.start()

    async def stop(self) -> None:
        await self._every.stop()


def _waiting(pool: Any) -> int:
    """Checkouts waiting for a connection (the pool and its overflow all in use). SQLAlchemy keeps
    no count of them: they are the waiters of its asyncio queue, a private part read carefully (0
    if a release moves it)."""
    queue = getattr(getattr(pool, "_pool", None), "_queue", None)
    return sum(1 for waiter in getattr(queue, "_getters", ()) if not waiter.done())


class _Scrape:
    """What one scrape shows: every process's metrics, the newest order of each brand, and each
    integration's webhook backlog (events pending, and since when)."""

    def __init__(self, newest: dict[str, datetime], backlog: dict[str, tuple[int, datetime]], now: datetime) -> None:
        self.newest = newest
        self.backlog = backlog
        self.now = now

    def collect(self) -> Iterator[Metric]:
        if multiprocess_mode():
            registry = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in the client
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()
        age = GaugeMetricFamily(
            "kitchen_newest_order_age_seconds",
            "Seconds since the newest order of each brand came in (brands with one in the last 7 days).",
            labels=["brand"],
        )
        for brand_id, created_at in sorted(self.newest.items()):
            age.add_metric([brand_id], max((self.now - created_at).total_seconds(), 0.0))
        yield age
        pending = GaugeMetricFamily(
            "kitchen_webhook_backlog_events",
            "Webhook events not yet delivered nor dead, by integration (every webhook, 0 when none).",
            labels=["integration"],
        )
        oldest = GaugeMetricFamily(
            "kitchen_webhook_backlog_oldest_seconds",
            "Seconds since the oldest pending webhook event of each integration was written (0 when none).",
            labels=["integration"],
        )
        for integration, (events, since) in sorted(self.backlog.items()):
            pending.add_metric([integration], events)
            oldest.add_metric([integration], max((self.now - since).total_seconds(), 0.0) if events else 0.0)
        yield pending
        yield oldest


# The newest-order age covers brands with an order this recent: a range of the created_at index.
NEWEST_ORDER_WINDOW = timedelta(days=7)


async def newest_orders(sessions: async_sessionmaker[AsyncSession], now: datetime) -> dict[str, datetime]:
    """When each brand's newest order of the last 7 days came in."""
    async with sessions() as session:
        newest = (
            select(Order.brand_id, func.max(Order.created_at))
            .where(Order.created_at >= now - NEWEST_ORDER_WINDOW)
            .group_by(Order.brand_id)
        )
        return dict((await session.execute(newest)).all())


async def webhook_backlog(sessions: async_sessionmaker[AsyncSession], now: datetime) -> dict[str, tuple[int, datetime]]:
    """Each webhook's pending events and the oldest one's time (the outbox's pending index only)."""
    async with sessions() as session:
        pending = (
            select(Webhook.integration, func.count(OutboxEvent.id), func.min(OutboxEvent.created_at))
            .select_from(Webhook)
            .outerjoin(
                OutboxEvent,
                (OutboxEvent.webhook_id == Webhook.id)
                & OutboxEvent.delivered_at.is_(None)
                & OutboxEvent.dead_at.is_(None),
            )
            .group_by(Webhook.integration)
        )
        return {
            integration: (int(events), since or now) for integration, events, since in await session.execute(pending)
        }


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """Every metric in Prometheus' text format, for a scraper that sends `KITCHEN_METRICS_TOKEN`."""
    token: str = state.settings.metrics_token
    if not token:
        raise NotFoundException("metrics are off: set KITCHEN_METRICS_TOKEN to serve them")
    sent = request.headers.get("authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        raise NotAuthorizedException("send Authorization: Bearer <KITCHEN_METRICS_TOKEN>")
    now = state.clock()
    scrape = _Scrape(await newest_orders(state.sessions, now), await webhook_backlog(state.sessions, now), now)
    # As the header says, not with the charset Litestar would add to it a second time.
    return Response(generate_latest(scrape), headers={"Content-Type": CONTENT_TYPE_LATEST})
