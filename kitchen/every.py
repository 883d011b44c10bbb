"""Background work that runs every few seconds in each process: the analytics fold, the pool
sampler, the quiet-channel watch.

Stopping waits for the turn in hand instead of cancelling it: a query cut off mid-flight leaves
its driver's thread answering an event loop that is gone (aiosqlite), and a stop during a fold
would leave it half done for nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("kitchen.every")
STOP_WAIT_SECONDS = 5.0


class Every:
    """Runs `work` every `seconds` (first at once, or after one wait) until stopped; a failed turn
    is logged and the next one tries again."""

    def __init__(self, seconds: float, work: Callable[[], Awaitable[object]], name: str, *, at_once: bool) -> None:
        self.seconds = seconds
        self.work = work
        self.name = name
        self.at_once = at_once
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(self._stop), name=self.name)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(self._task, timeout=STOP_WAIT_SECONDS)
        except TimeoutError:
            log.warning("%s did not stop in time; cancelled", self.name)
        self._task = None

    async def _run(self, stop: asyncio.Event) -> None:
        if not self.at_once and await self._wait(stop):
            return
        while not stop.is_set():
            try:
                await self.work()
            except Exception:
                # The database may be away (a restart); the next turn tries again.
                log.warning("%s failed; trying again in %.0f s", self.name, self.seconds, exc_info=True)
            if await self._wait(stop):
                return

    async def _wait(self, stop: asyncio.Event) -> bool:
        """Sleep a turn; True when stopped meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=self.seconds)
        return stop.is_set()
