"""PATCH of order and item status through HTTP: rules, derived status, history, no-ops, races."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import FakeClock
from tests.helpers import create_order, item, row_counts, set_item, set_order, statuses

pytestmark = pytest.mark.anyio


async def test_item_moves_through_preparing_to_ready(client: httpx.AsyncClient, clock: FakeClock) -> None:
    order = await create_order(client)
    clock.advance(60)
    started = await set_item(client, order["id"], "BB-1", "PREPARING")
    assert started.status_code == 200
    clock.advance(120)
    done = (await set_item(client, order["id"], "BB-1", 3)).json()
    burger = item(done, "BB-1")
    assert burger["status"] == "READY"
    assert [(e["status"], e["timestamp"]) for e in burger["statusHistory"]] == [
        ("ORDERED", "2026-03-02T10:00:00Z"),
        ("PREPARING", "2026-03-02T10:01:00Z"),
        ("READY", "2026-03-02T10:03:00Z"),
    ]
    assert all(e["source"] == "api" for e in burger["statusHistory"])


async def test_order_follows_its_items(client: httpx.AsyncClient, clock: FakeClock) -> None:
    order = await create_order(client)
    oid = order["id"]
    clock.advance(10)
    assert (await set_item(client, oid, "BB-1", "PREPARING")).json()["status"] == "PREPARING"
    clock.advance(10)
    assert (await set_item(client, oid, "BB-1", "READY")).json()["status"] == "PREPARING"
    for plu in ("BB-2", "BB-3"):
        clock.advance(10)
        await set_item(client, oid, plu, "PREPARING")
        clock.advance(10)
        last = (await set_item(client, oid, plu, "READY")).json()
    assert last["status"] == "READY"
    # Each change of the order's own status wrote exactly one row.
    assert statuses(last["statusHistory"]) == ["RECEIVED", "PREPARING", "READY"]


async def test_undo_one_step_back_is_recorded(client: httpx.AsyncClient, clock: FakeClock) -> None:
    order = await create_order(client)
    oid = order["id"]
    await set_item(client, oid, "BB-1", "PREPARING")
    clock.advance(5)
    undone = await set_item(client, oid, "BB-1", "ORDERED")
    assert undone.status_code == 200
    body = undone.json()
    assert item(body, "BB-1")["status"] == "ORDERED"
    assert statuses(item(body, "BB-1")["statusHistory"]) == ["ORDERED", "PREPARING", "ORDERED"]
    # With nothing started any more, the order is back to RECEIVED, and that is recorded too.
    assert body["status"] == "RECEIVED"
    assert statuses(body["statusHistory"]) == ["RECEIVED", "PREPARING", "RECEIVED"]


async def test_ready_item_can_go_back_to_preparing(client: httpx.AsyncClient) -> None:
    order = await create_order(client, items=[{"plu": "A", "name": "A", "quantity": 1}])
    oid = order["id"]
    await set_item(client, oid, "A", "PREPARING")
    assert (await set_item(client, oid, "A", "READY")).json()["status"] == "READY"
    back = (await set_item(client, oid, "A", "PREPARING")).json()
    assert back["status"] == "PREPARING"
    assert statuses(back["statusHistory"]) == ["RECEIVED", "PREPARING", "READY", "PREPARING"]


@pytest.mark.parametrize(("start", "requested"), [([], "READY"), (["PREPARING", "READY"], "ORDERED")])
async def test_item_cannot_skip_a_step(
    client: httpx.AsyncClient, engine: AsyncEngine, start: list[str], requested: str
) -> None:
    order = await create_order(client)
    for status in start:
        await set_item(client, order["id"], "BB-1", status)
    before = await row_counts(engine)
    response = await set_item(client, order["id"], "BB-1", requested)
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "transition_not_allowed"
    assert body["currentStatus"] == (start[-1] if start else "ORDERED")
    assert body["requestedStatus"] == requested
    assert await row_counts(engine) == before
    assert item((await client.get(f"/api/orders/{order['id']}")).json(), "BB-1")["status"] == body["currentStatus"]


async def test_repeating_a_status_is_a_noop(client: httpx.AsyncClient, engine: AsyncEngine, clock: FakeClock) -> None:
    order = await create_order(client)
    first = await set_item(client, order["id"], "BB-1", "PREPARING")
    before = await row_counts(engine)
    clock.advance(30)
    again = await set_item(client, order["id"], "BB-1", 2)
    assert again.status_code == 200
    assert again.json() == first.json()
    again_order = await set_order(client, order["id"], "PREPARING")
    assert again_order.status_code == 200
    assert await row_counts(engine) == before


async def test_start_moves_ordered_items_to_preparing(client: httpx.AsyncClient) -> None:
    order = await create_order(client)
    body = (await set_order(client, order["id"], "PREPARING")).json()
    assert body["status"] == "PREPARING"
    assert {i["status"] for i in body["items"]} == {"PREPARING"}


async def test_bump_completes_every_open_item(client: httpx.AsyncClient) -> None:
    order = await create_order(client)
    await set_item(client, order["id"], "BB-1", "PREPARING")
    body = (await set_order(client, order["id"], 3)).json()
    assert body["status"] == "READY"
    assert {i["status"] for i in body["items"]} == {"READY"}
    assert statuses(body["statusHistory"]) == ["RECEIVED", "PREPARING", "READY"]
    assert statuses(item(body, "BB-2")["statusHistory"]) == ["ORDERED", "READY"]


async def test_bumped_order_can_be_recalled(client: httpx.AsyncClient) -> None:
    order = await create_order(client)
    await set_order(client, order["id"], "READY")
    body = (await set_order(client, order["id"], "PREPARING")).json()
    assert body["status"] == "PREPARING"
    assert {i["status"] for i in body["items"]} == {"PREPARING"}


async def test_full_life_of_an_order(client: httpx.AsyncClient, clock: FakeClock) -> None:
    order = await create_order(client)
    oid = order["id"]
    for status in ("PREPARING", "READY", "PICKED_UP"):
        clock.advance(60)
        response = await set_order(client, oid, status)
        assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "PICKED_UP"
    assert [(e["status"], e["timestamp"]) for e in body["statusHistory"]] == [
        ("RECEIVED", "2026-03-02T10:00:00Z"),
        ("PREPARING", "2026-03-02T10:01:00Z"),
        ("READY", "2026-03-02T10:02:00Z"),
        ("PICKED_UP", "2026-03-02T10:03:00Z"),
    ]


@pytest.mark.parametrize("current", ["RECEIVED", "PREPARING"])
async def test_pick_up_before_ready_is_refused(client: httpx.AsyncClient, engine: AsyncEngine, current: str) -> None:
    order = await create_order(client)
    await set_order(client, order["id"], current)
    before = await row_counts(engine)
    response = await set_order(client, order["id"], "PICKED_UP")
    assert response.status_code == 409
    assert (response.json()["currentStatus"], response.json()["requestedStatus"]) == (current, "PICKED_UP")
    assert await row_counts(engine) == before


async def test_cancel_cancels_open_items(client: httpx.AsyncClient) -> None:
    order = await create_order(client)
    await set_item(client, order["id"], "BB-1", "PREPARING")
    await set_item(client, order["id"], "BB-1", "READY")
    await set_item(client, order["id"], "BB-2", "PREPARING")
    body = (await set_order(client, order["id"], 5)).json()
    assert body["status"] == "CANCELLED"
    assert [(i["plu"], i["status"]) for i in body["items"]] == [
        ("BB-1", "READY"),
        ("BB-2", "CANCELLED"),
        ("BB-3", "CANCELLED"),
    ]


@pytest.mark.parametrize("final", ["PICKED_UP", "CANCELLED"])
@pytest.mark.parametrize("requested", ["RECEIVED", "PREPARING", "READY", "PICKED_UP", "CANCELLED"])
async def test_final_statuses_do_not_change(
    client: httpx.AsyncClient, engine: AsyncEngine, final: str, requested: str
) -> None:
    order = await create_order(client)
    if final == "PICKED_UP":
        await set_order(client, order["id"], "READY")
    await set_order(client, order["id"], final)
    before = await row_counts(engine)
    response = await set_order(client, order["id"], requested)
    if requested == final:
        assert response.status_code == 200
    else:
        assert response.status_code == 409
        assert response.json()["currentStatus"] == final
    item_response = await set_item(client, order["id"], "BB-3", "PREPARING")
    assert item_response.status_code == 409
    assert await row_counts(engine) == before


async def test_cancelling_every_item_cancels_the_order(client: httpx.AsyncClient) -> None:
    order = await create_order(client, items=[{"plu": "A", "name": "A", "quantity": 1}])
    body = (await set_item(client, order["id"], "A", "CANCELLED")).json()
    assert body["status"] == "CANCELLED"


async def test_unknown_order_and_unknown_plu_are_distinct_404s(client: httpx.AsyncClient) -> None:
    order = await create_order(client)
    no_order = await set_item(client, "no-such-order", "BB-1", "PREPARING")
    no_item = await set_item(client, order["id"], "NO-SUCH-PLU", "PREPARING")
    no_order_status = await set_order(client, "no-such-order", "READY")
    assert (no_order.status_code, no_item.status_code, no_order_status.status_code) == (404, 404, 404)
    assert no_order.json()["code"] == no_order_status.json()["code"] == "order_not_found"
    assert no_item.json()["code"] == "item_not_found"
    assert no_order.json()["detail"] != no_item.json()["detail"]
    assert (await client.get("/api/orders/no-such-order")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [{"status": "DONE"}, {"status": 4}, {"status": None}, {}, {"status": [2]}, {"status": True}],
    ids=["unknown-name", "item-has-no-code-4", "null", "missing", "list", "bool"],
)
async def test_bad_item_status_is_rejected(client: httpx.AsyncClient, engine: AsyncEngine, body: Any) -> None:
    order = await create_order(client)
    before = await row_counts(engine)
    response = await client.patch(f"/api/orders/{order['id']}/items/BB-1/status", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "status"
    assert await row_counts(engine) == before


async def test_malformed_patch_body_is_a_400(client: httpx.AsyncClient) -> None:
    order = await create_order(client)
    response = await client.patch(
        f"/api/orders/{order['id']}/status", content=b"{status", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


async def test_fifty_concurrent_changes_to_one_order_lose_nothing(client: httpx.AsyncClient) -> None:
    """Every accepted change is in the history, in order, and the final state matches it."""
    plus = [f"P{i}" for i in range(25)]
    order = await create_order(client, items=[{"plu": p, "name": p, "quantity": 1} for p in plus])
    requests = [(p, s) for p in plus for s in ("PREPARING", "READY")]
    random.Random(3).shuffle(requests)
    responses = await asyncio.gather(*(set_item(client, order["id"], p, s) for p, s in requests))
    assert {r.status_code for r in responses} <= {200, 409}
    accepted = sum(r.status_code == 200 for r in responses)
    final = (await client.get(f"/api/orders/{order['id']}")).json()
    history_rows = sum(len(i["statusHistory"]) - 1 for i in final["items"])
    # A 200 can be a no-op only if the item already had that status; here none can repeat.
    assert history_rows == accepted
    for entry in final["items"]:
        seen = statuses(entry["statusHistory"])
        assert seen[: len(seen)] == ["ORDERED", "PREPARING", "READY"][: len(seen)]
        assert entry["status"] == seen[-1]
    expected = (
        "READY"
        if all(i["status"] == "READY" for i in final["items"])
        else ("PREPARING" if any(i["status"] != "ORDERED" for i in final["items"]) else "RECEIVED")
    )
    assert final["status"] == expected
    order_history = statuses(final["statusHistory"])
    assert order_history[-1] == final["status"]
    assert len(order_history) == len(set(order_history)), "no duplicated order transitions"


async def test_a_change_that_waited_for_the_lock_plans_on_what_the_holder_committed(
    client: httpx.AsyncClient, engine: AsyncEngine, server_url: str | None
) -> None:
    """PostgreSQL reads the order in the statement that locks it, from a snapshot taken before the
    lock was granted; a change that committed meanwhile must be seen, not planned over."""
    if server_url is None:
        pytest.skip("SQLite takes its write lock before reading; this race is PostgreSQL's")
    order = await create_order(client)
    order_id = {"id": order["id"]}
    async with engine.connect() as holder:
        await holder.execute(text("SELECT id FROM orders WHERE id = :id FOR UPDATE"), order_id)
        waiting = asyncio.create_task(set_item(client, order["id"], "BB-1", "PREPARING"))
        await asyncio.sleep(0.5)  # the request is now waiting for the lock
        assert not waiting.done()
        # What another change does meanwhile: it starts BB-1 (and bumps the version, as every change does).
        await holder.execute(
            text("UPDATE order_items SET status = 'PREPARING' WHERE order_id = :id AND plu = 'BB-1'"), order_id
        )
        await holder.execute(text("UPDATE orders SET version = version + 1 WHERE id = :id"), order_id)
        await holder.commit()
    response = await waiting
    assert response.status_code == 200
    # Planned on the committed state, BB-1 was already PREPARING: a repeat, so nothing written.
    assert statuses(item(response.json(), "BB-1")["statusHistory"]) == ["ORDERED"]
    assert item(response.json(), "BB-1")["status"] == "PREPARING"


async def test_concurrent_identical_changes_write_one_row(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    order = await create_order(client)
    before = await row_counts(engine)
    responses = await asyncio.gather(*(set_order(client, order["id"], "READY") for _ in range(10)))
    assert {r.status_code for r in responses} == {200}
    after = await row_counts(engine)
    assert after["order_status_events"] == before["order_status_events"] + 1
    assert after["item_status_events"] == before["item_status_events"] + 3


async def test_changes_are_stamped_by_the_service_clock(client: httpx.AsyncClient, clock: FakeClock) -> None:
    order = await create_order(client)
    clock.advance(90)
    body = (await set_item(client, order["id"], "BB-1", "PREPARING")).json()
    assert body["updatedAt"] == "2026-03-02T10:01:30Z"
    # The same instant again (a fast second tap) still stamps our clock, not the wall clock, one
    # microsecond on: no two changes of an order share a stamp.
    body = (await set_item(client, order["id"], "BB-2", "PREPARING")).json()
    assert body["updatedAt"] == "2026-03-02T10:01:30.000001Z"


async def test_a_clock_that_steps_back_never_stamps_a_change_before_the_last_one(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    order = await create_order(client)
    clock.advance(60)
    assert (await set_item(client, order["id"], "BB-1", "PREPARING")).status_code == 200
    clock.advance(-3600)  # an NTP correction, or another host whose clock runs an hour behind
    body = (await set_item(client, order["id"], "BB-1", "READY")).json()
    stays = item(body, "BB-1")["statusHistory"]
    assert [entry["timestamp"] for entry in stays] == [
        "2026-03-02T10:00:00Z",
        "2026-03-02T10:01:00Z",
        "2026-03-02T10:01:00.000001Z",
    ]
