"""How an analytics transaction is set up, per database: chosen once, in `create_app`.

On PostgreSQL a figure reads from one snapshot, sorts in memory and skips JIT (it costs more
than it saves here); SQLite has nothing to set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Per analytics transaction on PostgreSQL: a week of item stays sorts in memory, not on disk.
WORK_MEM = "64MB"

# Called once per session, before its first figure.
Tuning = Callable[[AsyncSession], Awaitable[None]]


async def tune_postgresql(session: AsyncSession) -> None:
    """One snapshot (REPEATABLE READ), when the session has not begun its transaction yet: a
    figure may look at the samples twice (`AnalyticsQueries._widened`), and must see the same
    ones both times. Then this transaction's work_mem, and no JIT."""
    if not session.in_transaction():
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    await session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    await session.execute(text("SET LOCAL jit = off"))


async def untuned(session: AsyncSession) -> None:
    """Nothing to set (SQLite)."""


def tuning_for(dialect: str) -> Tuning:
    """The tuning for a database of SQLAlchemy dialect `dialect`."""
    return tune_postgresql if dialect == "postgresql" else untuned
