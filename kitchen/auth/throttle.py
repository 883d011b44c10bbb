"""Slows down password and pairing-code guessing: a few failures, then a pause.

The failures are rows in the database (`failed_attempts`), not a process's memory: with several
workers or hosts, an attacker gets the same few tries as with one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.auth.models import FailedAttempt
from kitchen.clock import Clock

T = TypeVar("T")


class TooManyAttempts(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts; try again in {retry_after} s")
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Throttle:
    """At most `failures` failed attempts per key within `window`, counted over every process."""

    def __init__(self, clock: Clock, failures: int = 5, window: timedelta = timedelta(minutes=5)) -> None:
        self.clock = clock
        self.failures = failures
        self.window = window

    async def attempt(
        self, session: AsyncSession, keys: tuple[str, ...], guess: Callable[[], Awaitable[T | None]]
    ) -> T | None:
        """`guess()`, unless a key is throttled (TooManyAttempts); None from it is a failure of every key.

        A success clears the keys' failures: the tablets of one kitchen share its address, so one
        that finally pairs must not leave the next one locked out.
        """
        await self.check(session, *keys)
        answer = await guess()
        if answer is None:
            await self.failed(session, *keys)
        else:
            await self.succeeded(session, *keys)
        return answer

    async def check(self, session: AsyncSession, *keys: str) -> None:
        """TooManyAttempts when any key has failed `failures` times within the window."""
        since = self.clock() - self.window
        counted = (
            select(FailedAttempt.key, func.count(), func.min(FailedAttempt.at))
            .where(FailedAttempt.key.in_(keys), FailedAttempt.at > since)
            .group_by(FailedAttempt.key)
        )
        for _, count, first in await session.execute(counted):
            if count >= self.failures:
                raise TooManyAttempts(int((first - since).total_seconds()) + 1)

    async def failed(self, session: AsyncSession, *keys: str) -> None:
        now = self.clock()
        # Rows older than the window count no more: cleared as new ones come, so the table stays small.
        await session.execute(delete(FailedAttempt).where(FailedAttempt.at <= now - self.window))
        await session.execute(insert(FailedAttempt), [{"key": key, "at": now} for key in keys])
        await session.commit()

    async def succeeded(self, session: AsyncSession, *keys: str) -> None:
        await session.execute(delete(FailedAttempt).where(FailedAttempt.key.in_(keys)))
        await session.commit()
