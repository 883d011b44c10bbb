"""Migrations: empty to head and back, no drift from the models, atomic on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from kitchen.models import Order
from tests.conftest import create_throwaway_database, drop_database, migrate


@pytest.fixture
def empty_database(server_url: str | None, tmp_path: Path) -> Iterator[str]:
    if server_url is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    url = create_throwaway_database(server_url)
    try:
        yield url
    finally:
        drop_database(server_url, url)


def _inspect(url: str, check: Any) -> Any:
    async def run() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(check)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _drift(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Order.metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def test_upgrade_matches_models_and_downgrade_removes_everything(empty_database: str) -> None:
    migrate(empty_database)
    assert {"orders", "order_items", "order_status_events", "item_status_events"} <= _inspect(empty_database, _tables)
    assert _inspect(empty_database, _drift) == []
    migrate(empty_database, "base", down=True)
    assert _inspect(empty_database, _tables) <= {"alembic_version"}


def test_failed_upgrade_leaves_nothing_half_built(server_url: str | None, empty_database: str) -> None:
    if server_url is None:
        pytest.skip("transactional DDL is PostgreSQL's; this leg runs on SQLite")

    def block_last_table(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE item_status_events (id integer)"))
        conn.commit()

    _inspect(empty_database, block_last_table)
    with pytest.raises(DBAPIError, match="item_status_events"):
        migrate(empty_database)
    tables = _inspect(empty_database, _tables)
    assert tables == {"item_status_events"}, "the orders tables of the failed revision were rolled back"
