"""The migration `history integrity` repairs a history broken the way the old write path broke it,
and `kitchen history check` reports what cannot be repaired."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kitchen.cli import KitchenCLIPlugin
from kitchen.orders.integrity import find_faults, history_group
from kitchen.orders.models import ItemStatusEvent, Order, OrderItem, OrderStatusEvent
from tests.conftest import create_throwaway_database, drop_database, migrate
from tests.history import history_faults, summaries_and_recomputation

BEFORE = "9e2b7f41c6d0"  # the last revision without the history's constraints
T0 = datetime(2026, 11, 30, 6, 30, 23, 726596, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def old_database(server_url: str | None, tmp_path: Path) -> Iterator[str]:
    """A database at the revision before the constraints, filled with broken streams."""
    if server_url is None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
    else:
        url = create_throwaway_database(server_url)
    try:
        migrate(url, BEFORE)
        asyncio.run(_with_engine(url, _fill_broken_history))
        yield url
    finally:
        if server_url is not None:
            drop_database(server_url, url)


async def _with_engine(url: str, work: Any) -> Any:
    engine = create_async_engine(url)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


def _event(item_id: int | None, status: str, began: float, ended: float | None, source: str = "api") -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_id": "broken-1",
        "status": status,
        "at": at(began),
        "ended_at": None if ended is None else at(ended),
        "source": source,
        "actor": None,
    }
    if item_id is not None:
        row["item_id"] = item_id
    return row


async def _fill_broken_history(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(Order).values(
                id="broken-1",
                account="acct",
                brand_id="brand-burgers",
                channel_order_id="WOLT-broken-1",
                customer_name="Aino",
                pickup_time=at(1800),
                status="PREPARING",
                version=9,
                payload_hash="x" * 64,
                created_at=T0,
                updated_at=at(1),
            )
        )
        for item_id, plu, status in ((1, "BURGER", "PREPARING"), (2, "FRIES", "READY"), (3, "SODA", "PREPARING")):
            await conn.execute(
                insert(OrderItem).values(
                    id=item_id, order_id="broken-1", plu=plu, name=plu.title(), quantity=1, status=status
                )
            )
        # The stream: stamped before the lock, ended on the wrong rows, three open stays.
        burger = [
            _event(1, "ORDERED", 0, 0.747084),
            _event(1, "PREPARING", 0.747084, 0.762641),
            _event(1, "ORDERED", 0.762641, 0.709309),
            _event(1, "PREPARING", 0.709309, None),
            _event(1, "ORDERED", 0.729783, None),
            _event(1, "PREPARING", 0.596838, None),
        ]
        # A status written twice in a row, and a channel report that is left as it came.
        fries = [
            _event(2, "ORDERED", 0, 0.5),
            _event(2, "PREPARING", 0.5, 0.6),
            _event(2, "PREPARING", 0.6, 0.8),
            _event(2, "READY", 0.8, None),
        ]
        # A history that ends READY while the item is PREPARING: nothing in its rows says which is true.
        soda = [_event(3, "ORDERED", 0, 0.3), _event(3, "READY", 0.3, None)]
        await conn.execute(insert(ItemStatusEvent), [*burger, *fries, *soda])
        await conn.execute(
            insert(OrderStatusEvent),
            [
                _event(None, "RECEIVED", -60, None, source="channel"),
                _event(None, "RECEIVED", 0, 0.747084),
                _event(None, "PREPARING", 0.747084, None),
            ],
        )


async def _burger_rows(engine: AsyncEngine) -> list[tuple[str, datetime, datetime | None]]:
    async with engine.connect() as conn:
        e = ItemStatusEvent
        rows = await conn.execute(select(e.status, e.at, e.ended_at).where(e.item_id == 1).order_by(e.id))
        return [(status, began, ended) for status, began, ended in rows]


def test_the_migration_repairs_broken_streams_and_adds_the_constraints(old_database: str) -> None:
    before = asyncio.run(_with_engine(old_database, history_faults))
    assert any("open stays" in fault for fault in before)
    assert any("twice in a row" in fault for fault in before)

    migrate(old_database)

    faults = asyncio.run(_with_engine(old_database, history_faults))
    assert faults == ["item 3: history ends READY, but it is PREPARING now"]
    # Ordered by id, each stamped no earlier than the one before it, each ended by the next.
    assert asyncio.run(_with_engine(old_database, _burger_rows)) == [
        ("ORDERED", at(0), at(0.747084)),
        ("PREPARING", at(0.747084), at(0.762641)),
        ("ORDERED", at(0.762641), at(0.762641)),
        ("PREPARING", at(0.762641), at(0.762641)),
        ("ORDERED", at(0.762641), at(0.762641)),
        ("PREPARING", at(0.762641), None),
    ]
    written, recomputed = asyncio.run(_with_engine(old_database, summaries_and_recomputation))
    assert written["samples"]
    assert written == recomputed, "the migration rebuilt the summaries from the repaired history"

    migrate(old_database, BEFORE, down=True)
    migrate(old_database)
    assert asyncio.run(_with_engine(old_database, history_faults)) == faults


def test_history_check_reports_what_the_repair_could_not_fix(
    old_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(old_database)
    monkeypatch.setenv("KITCHEN_DATABASE_URL", old_database)

    async def faults(engine: AsyncEngine) -> list[Any]:
        async with engine.connect() as conn:
            return await find_faults(conn)

    found = asyncio.run(_with_engine(old_database, faults))
    assert [(f.stream, f.owner, f.order_id, f.fault) for f in found] == [
        ("item", "3", "broken-1", "current_status_differs")
    ]
    result = CliRunner().invoke(history_group, ["check"])
    assert result.exit_code == 1
    assert "item 3 of order broken-1: current_status_differs (history ends READY, now PREPARING)" in result.output

    async def make_it_true(engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE order_items SET status = 'READY' WHERE id = 3"))

    asyncio.run(_with_engine(old_database, make_it_true))
    result = CliRunner().invoke(history_group, ["check"])
    assert result.exit_code == 0, result.output
    assert "history ok" in result.output


def test_history_check_is_a_kitchen_command() -> None:
    import click

    group = click.Group()
    KitchenCLIPlugin().on_cli_init(group)
    assert "history" in group.commands
