"""Migrations: empty to head and back, no drift from the models, atomic on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from kitchen.db import create_engine
from kitchen.models import Order
from kitchen.settings import PROJECT_ROOT, Settings
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


def _execute(url: str, *statements: str) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                results = [await conn.execute(text(statement)) for statement in statements]
                return [result.all() if result.returns_rows else None for result in results]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_downgrading_the_summary_shards_adds_them_up(empty_database: str) -> None:
    migrate(empty_database, "9e2b7f41c6d0")  # the last revision with whole-second buckets
    _execute(
        empty_database,
        "INSERT INTO analytics_quarter_hours (quarter, brand_id, received, ready, shard)"
        " VALUES (1, 'b', 2, 1, 0), (1, 'b', 3, 0, 7), (2, 'b', 1, 1, 5)",
        "INSERT INTO analytics_histograms (span, measure, period, brand_id, key, label, second, count, total, shard)"
        " VALUES ('day', 'item_status', 9, 'b', 'ORDERED', '', 4, 2, 9.5, 0),"
        " ('day', 'item_status', 9, 'b', 'ORDERED', '', 4, 1, 4.25, 11)",
    )
    migrate(empty_database, "5f0c2a9d7e11", down=True)
    quarters, buckets = _execute(
        empty_database,
        "SELECT quarter, brand_id, received, ready FROM analytics_quarter_hours ORDER BY quarter",
        "SELECT second, count, total FROM analytics_histograms",
    )
    assert [tuple(row) for row in quarters] == [(1, "b", 5, 1), (2, "b", 1, 1)]
    assert [tuple(row) for row in buckets] == [(4, 3, 13.75)]


# --- the migration that lets a PLU repeat keeps the item history ----------------------------------------------


def _migrate_as_the_app_does(url: str, revision: str) -> None:
    """Upgrade through the app's own engine: on SQLite that one has foreign keys on (the rebuild trap)."""

    async def run() -> None:
        engine = create_engine(Settings(database_url=url))
        config = Config(str(PROJECT_ROOT / "alembic.ini"))
        config.set_main_option("sqlalchemy.url", url)
        config.engine = engine  # type: ignore[attr-defined]  # read by migrations/env.py
        await asyncio.to_thread(command.upgrade, config, revision)

    asyncio.run(run())


def test_the_upgrade_keeps_every_item_history_row(empty_database: str) -> None:
    _migrate_as_the_app_does(empty_database, "8c2d4e6f1a07")  # the last revision with unique PLUs per order
    _execute(
        empty_database,
        "INSERT INTO orders (id, account, brand_id, channel_order_id, customer_name, pickup_time, status, version,"
        " payload_hash, created_at, updated_at) VALUES ('o1', 'a', 'b', 'c', 'n', '2026-12-04 10:00:00',"
        " 'PREPARING', 2, 'h', '2026-12-04 09:40:00', '2026-12-04 09:41:00')",
        "INSERT INTO order_items (id, order_id, plu, name, quantity, status)"
        " VALUES (7, 'o1', 'P', 'Burger', 1, 'PREPARING')",
        "INSERT INTO item_status_events (id, item_id, order_id, status, at, ended_at, source) VALUES"
        " (1, 7, 'o1', 'ORDERED', '2026-12-04 09:40:00', '2026-12-04 09:41:00', 'api'),"
        " (2, 7, 'o1', 'PREPARING', '2026-12-04 09:41:00', NULL, 'board')",
    )

    _migrate_as_the_app_does(empty_database, "head")

    (history,) = _execute(
        empty_database, "SELECT id, item_id, status, ended_at IS NULL FROM item_status_events ORDER BY id"
    )
    assert [tuple(row) for row in history] == [(1, 7, "ORDERED", False), (2, 7, "PREPARING", True)]
    _execute(
        empty_database,
        "INSERT INTO order_items (order_id, plu, name, quantity, status) VALUES ('o1', 'P', 'Burger', 1, 'ORDERED')",
    )
    (plus,) = _execute(empty_database, "SELECT plu FROM order_items WHERE order_id = 'o1'")
    assert [row[0] for row in plus] == ["P", "P"]
