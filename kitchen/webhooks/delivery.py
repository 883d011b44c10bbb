"""The delivery worker: every app process runs one; together they send each pending event once.

A worker claims a batch with `SELECT … FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite has one writer
at a time anyway) and marks it taken for `LEASE` — so no transaction stays open across an HTTP
request, and a worker that dies mid-send lets its batch go when the lease ends (at least once).
An event waits while an earlier event of its stream (the same order, for the same webhook) is
pending: in order per order. A failure or any non-2xx is retried with exponential backoff and
jitter, up to `KITCHEN_WEBHOOK_ATTEMPTS`, then parked as dead for a manager to retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import Exists

from kitchen.clock import Clock
from kitchen.logs import RequestCount
from kitchen.metrics import WEBHOOK_ATTEMPTS
from kitchen.settings import Settings
from kitchen.webhooks.models import OutboxEvent, Webhook
from kitchen.webhooks.signing import EVENT_HEADER, SIGNATURE_HEADER, signature

log = logging.getLogger("kitchen.webhooks")

BATCH = 50
LEASE = timedelta(seconds=60)  # longer than a batch's requests take (each times out in seconds)
POLL_SECONDS = 1.0  # how often a worker looks, when no change made here woke it
# Woken by a commit, a worker waits this long for more: one claim per burst, not one per change.
GATHER_SECONDS = 0.05
# While this process is busy serving requests (more than BUSY_REQUESTS_PER_SECOND since the last
# batch), its worker sends small batches with a pause between: the taps come first, the backlog
# follows. Still up to 20 events a second: more than a kitchen's changes even at a rush.
BUSY_BATCH = 10
BUSY_PAUSE_SECONDS = 0.5
BUSY_REQUESTS_PER_SECOND = 50.0


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    event_id: str
    body: str
    attempts: int
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class Outcome:
    id: int
    error: str | None  # None: delivered


def _earlier_pending() -> Exists:
    earlier = aliased(OutboxEvent)
    return exists().where(
        earlier.webhook_id == OutboxEvent.webhook_id,
        earlier.stream == OutboxEvent.stream,
        earlier.id < OutboxEvent.id,
        earlier.delivered_at.is_(None),
        earlier.dead_at.is_(None),
    )


class Deliverer:
    def __init__(self, engine: AsyncEngine, clock: Clock, settings: Settings) -> None:
        self.engine = engine
        self.clock = clock
        self.settings = settings
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._last_look = (time.monotonic(), RequestCount.started)

    def wake(self) -> None:
        """A change made here wrote events: look now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        # One client for the process: connections to each receiver are kept and reused.
        self._client = httpx.AsyncClient(
            timeout=self.settings.webhook_timeout_seconds,
            limits=httpx.Limits(max_connections=BATCH, max_keepalive_connections=20),
            follow_redirects=False,
        )
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="webhook-delivery")

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=self.settings.webhook_timeout_seconds + 2)
            except TimeoutError:
                log.warning("webhook delivery did not stop in time; its claimed events go back after their lease")
            self._task = None
        if self._client is not None:
            await self._client.aclose()

    def busy(self) -> bool:
        """More requests began here since the last look than BUSY_REQUESTS_PER_SECOND allows."""
        now, started = time.monotonic(), RequestCount.started
        last_at, last_started = self._last_look
        self._last_look = (now, started)
        return (started - last_started) > BUSY_REQUESTS_PER_SECOND * max(now - last_at, 0.05)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while not self._stop.is_set():
                    busy = self.busy()
                    claimed = await self.deliver_once(BUSY_BATCH if busy else BATCH)
                    if busy:
                        # Whatever it found: every batch while busy is followed by a pause.
                        await asyncio.sleep(BUSY_PAUSE_SECONDS)
                    elif claimed < BATCH:
                        break  # all sent; a full batch means there may be more at once
            except Exception:
                log.warning("webhook delivery failed; trying again", exc_info=True)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=POLL_SECONDS)
                await asyncio.sleep(GATHER_SECONDS)

    async def deliver_once(self, size: int = BATCH) -> int:
        """Claim a batch, send it, record what happened; how many were claimed."""
        claimed = await self._claim(size)
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._send(event) for event in claimed))
        await self._record(claimed, outcomes)
        return len(claimed)

    async def _claim(self, size: int) -> list[Claimed]:
        now = self.clock()
        due = (
            select(OutboxEvent.id)
            .join(Webhook, Webhook.id == OutboxEvent.webhook_id)
            .where(
                OutboxEvent.delivered_at.is_(None),
                OutboxEvent.dead_at.is_(None),
                OutboxEvent.next_attempt_at <= now,
                or_(OutboxEvent.claimed_until.is_(None), OutboxEvent.claimed_until < now),
                Webhook.disabled_at.is_(None),
                ~_earlier_pending(),
            )
            .order_by(OutboxEvent.id)
            .limit(size)
            .with_for_update(of=OutboxEvent, skip_locked=True)
        )
        async with self.engine.begin() as conn:
            ids = list((await conn.scalars(due)).all())
            if not ids:
                return []
            # Only what is still free: SQLite has no SKIP LOCKED, and there the UPDATE (one writer
            # at a time) is what keeps two processes from taking the same event.
            free = or_(OutboxEvent.claimed_until.is_(None), OutboxEvent.claimed_until < now)
            taken = await conn.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(ids), free, OutboxEvent.delivered_at.is_(None))
                .values(claimed_until=now + LEASE)
                .returning(OutboxEvent.id)
            )
            ids = [row[0] for row in taken]
            if not ids:
                return []
            rows = await conn.execute(
                select(
                    OutboxEvent.id,
                    OutboxEvent.event_id,
                    OutboxEvent.body,
                    OutboxEvent.attempts,
                    Webhook.url,
                    Webhook.secret,
                )
                .join(Webhook, Webhook.id == OutboxEvent.webhook_id)
                .where(OutboxEvent.id.in_(ids))
                .order_by(OutboxEvent.id)
            )
            return [Claimed(*row) for row in rows]

    async def _send(self, event: Claimed) -> Outcome:
        assert self._client is not None
        body = event.body.encode()
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: event.event_id,
            SIGNATURE_HEADER: signature(event.secret, int(time.time()), body),
            "User-Agent": "kitchen-webhooks/1",
        }
        try:
            response = await self._client.post(event.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Outcome(event.id, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)
        if 200 <= response.status_code < 300:
            return Outcome(event.id, None)
        return Outcome(event.id, f"HTTP {response.status_code}: {response.text[:200]}")

    def retry_at(self, now: datetime, attempts: int) -> datetime:
        """Exponential backoff from the first retry's wait, capped, with up to half of it as jitter."""
        wait = min(self.settings.webhook_retry_seconds * 2 ** (attempts - 1), self.settings.webhook_retry_max_seconds)
        return now + timedelta(seconds=wait * random.uniform(0.5, 1.0))  # jitter, not a secret

    async def _record(self, claimed: list[Claimed], outcomes: list[Outcome]) -> None:
        now = self.clock()
        attempts = {event.id: event.attempts + 1 for event in claimed}
        async with self.engine.begin() as conn:
            delivered = [o.id for o in outcomes if o.error is None]
            if delivered:
                await conn.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.id.in_(delivered))
                    .values(delivered_at=now, claimed_until=None, last_error=None, attempts=OutboxEvent.attempts + 1)
                )
                WEBHOOK_ATTEMPTS.labels("delivered").inc(len(delivered))
            for outcome in outcomes:
                if outcome.error is None:
                    continue
                tries = attempts[outcome.id]
                dead = tries >= self.settings.webhook_attempts
                await conn.execute(
                    update(OutboxEvent)
                    .where(and_(OutboxEvent.id == outcome.id))
                    .values(
                        attempts=tries,
                        last_error=outcome.error,
                        claimed_until=None,
                        next_attempt_at=self.retry_at(now, tries),
                        dead_at=now if dead else None,
                    )
                )
                WEBHOOK_ATTEMPTS.labels("dead" if dead else "failed").inc()
                log.info("webhook event %s failed (attempt %d): %s", outcome.id, tries, outcome.error)
