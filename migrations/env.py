"""Alembic environment: runs every pending revision in ONE transaction.

PostgreSQL has transactional DDL, so a revision that fails leaves nothing half-built.
The URL comes from advanced-alchemy's config (`kitchen database ...`), from the
`sqlalchemy.url` option (tests), or from KITCHEN_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import kitchen.models  # noqa: F401  # registers every table on the metadata
from kitchen.orders.models import Order
from kitchen.settings import Settings

# Revisions import the frozen copies of the code they run from `migrations/frozen`.
sys.path.insert(0, str(Path(__file__).resolve().parent))

config: Any = context.config
target_metadata = Order.metadata


def _url() -> str:
    return str(
        getattr(config, "db_url", None) or config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    )


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=True,
        version_table="alembic_version",
        user_module_prefix="sa.",
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine: AsyncEngine = getattr(config, "engine", None) or create_async_engine(_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
