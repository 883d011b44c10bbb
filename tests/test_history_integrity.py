"""The history stays true under real traffic: real clock, real parallel connections, rows checked in SQL.

Every test here runs the app with the system clock (never a scripted one: a frozen clock hides
exactly the races these tests are for) and then reads the stored rows directly: per stream,
`at` never goes back by id, one open stay (the last), each stay ends when the next begins, no
status twice in a row, and the summaries equal a recomputation from the raw history.
"""

from __future__ import annotations

import asyncio
import pprint
import random
import threading
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from advanced_alchemy.types import DateTimeUTC
from litestar import Litestar
from sqlalchemy import bindparam, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kitchen.app import create_app
from kitchen.settings import Settings
from tests.helpers import create_order, live_order_payload, pickup_in, set_item, set_order
from tests.history import history_faults, summaries_and_recomputation
from tests.live_server import LiveServer, new_api_key, wipe_database

pytestmark = pytest.mark.anyio

ITEM_STATUSES = ("ORDERED", "PREPARING", "READY")


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The app on the real clock (this module's `client`, `tablet` and `engine` use it)."""
    return create_app(settings)


async def assert_history_is_sound(engine: AsyncEngine) -> None:
    assert await history_faults(engine) == []
    written, recomputed = await summaries_and_recomputation(engine)
    assert written["samples"], "the changes wrote summary rows"
    differences = {
        table: {
            "written only": sorted(set(rows) - set(recomputed[table]))[:10],
            "recomputed only": sorted(set(recomputed[table]) - set(rows))[:10],
        }
        for table, rows in written.items()
        if rows != recomputed[table]
    }
    if differences:
        pytest.fail(f"the summaries differ from a recomputation from the raw history:\n{pprint.pformat(differences)}")


# --- the reproduction: 30 requests at once, from 30 threads with a connection each --------------------


@pytest.fixture
def live_server(database_url: str) -> Iterator[LiveServer]:
    wipe_database(database_url)
    server = LiveServer(database_url, name="history").start()
    server.api_key = new_api_key(database_url)
    yield server
    server.stop()


def _tap_at_once(server: LiveServer, order_id: str, plus: list[str], requests: int, rng: random.Random) -> list[int]:
    """`requests` item PATCHes of random PLU and status, released together, one connection each."""
    barrier = threading.Barrier(requests)
    statuses: list[int] = []
    asked = [(rng.choice(plus), rng.choice(ITEM_STATUSES)) for _ in range(requests)]

    def send(plu: str, status: str) -> None:
        with httpx.Client(base_url=server.url, headers=server.api, timeout=30) as http:
            http.get("/health")  # the connection is open before the barrier releases
            barrier.wait()
            response = http.patch(f"/api/orders/{order_id}/items/{plu}/status", json={"status": status})
            statuses.append(response.status_code)

    threads = [threading.Thread(target=send, args=one) for one in asked]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


async def test_thirty_parallel_taps_leave_a_clean_history_every_time(
    live_server: LiveServer, database_url: str
) -> None:
    rng = random.Random(9)
    plus = ["BB-1", "BB-2", "BB-3"]
    async with httpx.AsyncClient(base_url=live_server.url, headers=live_server.api, timeout=30) as http:
        for _ in range(20):
            created = await http.post("/api/orders", json=live_order_payload())
            assert created.status_code == 201, created.text
            answered = await asyncio.to_thread(_tap_at_once, live_server, created.json()["id"], plus, 30, rng)
            assert set(answered) <= {200, 409}, answered
            assert answered.count(200) > 0
    engine = create_async_engine(database_url)
    try:
        await assert_history_is_sound(engine)
        async with engine.connect() as conn:
            changes = await conn.scalar(text("SELECT count(*) FROM item_status_events WHERE source = 'api'"))
    finally:
        await engine.dispose()
    assert changes is not None
    assert changes > 20 * 3, "the taps changed statuses, not only repeated them"


# --- in-process, with parallel database connections ------------------------------------------------------


async def test_fifty_parallel_changes_to_one_order_run_forward(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    plus = [f"P{i}" for i in range(25)]
    order = await create_order(
        client, items=[{"plu": p, "name": p, "quantity": 1} for p in plus], pickupTime=pickup_in(30)
    )
    requests = [(p, s) for p in plus for s in ("PREPARING", "READY")]
    random.Random(3).shuffle(requests)

    responses = await asyncio.gather(*(set_item(client, order["id"], p, s) for p, s in requests))

    assert {r.status_code for r in responses} <= {200, 409}
    await assert_history_is_sound(engine)
    final = (await client.get(f"/api/orders/{order['id']}")).json()
    for entry in final["items"]:
        stamps = [e["timestamp"] for e in entry["statusHistory"]]
        assert stamps == sorted(stamps), "the API shows each history in the order it was written, which is time order"


async def test_random_parallel_item_changes_on_many_orders(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    rng = random.Random(11)
    orders = [await create_order(client, pickupTime=pickup_in(30)) for _ in range(5)]
    changes = [
        set_item(client, rng.choice(orders)["id"], rng.choice(["BB-1", "BB-2", "BB-3"]), rng.choice(ITEM_STATUSES))
        for _ in range(120)
    ]

    responses = await asyncio.gather(*changes)

    assert {r.status_code for r in responses} <= {200, 409}
    await assert_history_is_sound(engine)


async def test_parallel_bumps_recalls_and_taps(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    rng = random.Random(5)
    orders = [await create_order(client, pickupTime=pickup_in(30)) for _ in range(4)]
    changes = []
    for _ in range(80):
        order_id = rng.choice(orders)["id"]
        if rng.random() < 0.5:
            changes.append(set_order(client, order_id, rng.choice(["READY", "PREPARING", "RECEIVED"])))
        else:
            changes.append(set_item(client, order_id, rng.choice(["BB-1", "BB-2", "BB-3"]), rng.choice(ITEM_STATUSES)))

    responses = await asyncio.gather(*changes)

    assert {r.status_code for r in responses} <= {200, 409}
    await assert_history_is_sound(engine)


async def test_board_taps_undos_and_recalls_in_parallel(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    rng = random.Random(7)
    ids = [(await create_order(client, pickupTime=pickup_in(30)))["id"] for _ in range(3)]

    def some_taps(n: int) -> list[Coroutine[Any, Any, httpx.Response]]:
        taps = []
        for _ in range(n):
            order_id = rng.choice(ids)
            action = rng.choice(["advance", "advance", "advance", "bump", "recall"])
            if action == "advance":
                taps.append(tablet.post(f"/board/orders/{order_id}/lines/{rng.choice([1, 2, 3])}/advance"))
            else:
                taps.append(tablet.post(f"/board/orders/{order_id}/{action}"))
        return taps

    first = await asyncio.gather(*some_taps(60))
    stack = [int(r.headers["kitchen-tap"].split()[0]) for r in first if "kitchen-tap" in r.headers]
    undos = [tablet.post(f"/board/taps/{rng.choice(stack)}/undo") for _ in range(30)]
    second = await asyncio.gather(*undos, *some_taps(30))

    responses = [*first, *second]
    assert {r.status_code for r in responses} <= {200, 409}
    assert any(r.status_code == 200 for r in second[:30])
    async with engine.connect() as conn:
        closed = await conn.scalar(text("SELECT count(*) FROM board_taps WHERE closed_at IS NOT NULL"))
    assert closed, "the undos took changes off the stack"
    await assert_history_is_sound(engine)


# --- the database refuses a broken history ----------------------------------------------------------------

AT = bindparam("at", type_=DateTimeUTC(timezone=True))
LATER = datetime.now(UTC) + timedelta(minutes=5)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


async def test_the_database_refuses_a_second_open_stay(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    order = await create_order(client, pickupTime=pickup_in(30))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO item_status_events (item_id, order_id, status, at, source)"
                    " SELECT id, order_id, 'PREPARING', :at, 'api' FROM order_items WHERE plu = 'BB-1'"
                ).bindparams(AT),
                {"at": LATER},
            )
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO order_status_events (order_id, status, at, source)"
                    " VALUES (:id, 'PREPARING', :at, 'api')"
                ).bindparams(AT),
                {"id": order["id"], "at": LATER},
            )


async def test_the_database_refuses_a_stay_that_ends_before_it_begins(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await create_order(client, pickupTime=pickup_in(30))
    for table in ("item_status_events", "order_status_events"):
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text(f"UPDATE {table} SET ended_at = :at").bindparams(AT), {"at": LONG_AGO})
