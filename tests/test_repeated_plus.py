"""The same PLU on several lines of one order: each line is an item of its own, changed by its line."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import order_payload, row_counts, set_item, statuses

pytestmark = pytest.mark.anyio

TWO_BURGERS = [
    {"plu": "BB-1", "name": "Hawaii Burger", "quantity": 1},
    {"plu": "BB-1", "name": "Hawaii Burger", "quantity": 1, "modifiers": [{"name": "No onions"}]},
    {"plu": "BB-2", "name": "Fries", "quantity": 2},
]


async def _two_burgers(client: httpx.AsyncClient) -> dict[str, Any]:
    created = await client.post("/api/orders", json=order_payload(items=TWO_BURGERS))
    assert created.status_code == 201, created.text
    order: dict[str, Any] = created.json()
    return order


async def _set_line(client: httpx.AsyncClient, order_id: str, line: int | str, status: Any) -> httpx.Response:
    return await client.patch(f"/api/orders/{order_id}/lines/{line}/status", json={"status": status})


async def _stored_lines(engine: AsyncEngine, order_id: str) -> list[tuple[str, str, int]]:
    """(plu, status, history rows) of each stored item, in line order."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT i.plu, i.status, count(e.id) FROM order_items i"
                " LEFT JOIN item_status_events e ON e.item_id = i.id"
                " WHERE i.order_id = :id GROUP BY i.id, i.plu, i.status ORDER BY i.id"
            ),
            {"id": order_id},
        )
        return [(plu, status, int(events)) for plu, status, events in rows]


async def test_an_order_may_repeat_a_plu_and_each_line_keeps_its_own_options(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    order = await _two_burgers(client)
    assert [(i["line"], i["plu"]) for i in order["items"]] == [(1, "BB-1"), (2, "BB-1"), (3, "BB-2")]
    assert [i["modifiers"] for i in order["items"]][:2] == [[], [{"name": "No onions", "plu": None, "quantity": 1}]]
    assert await _stored_lines(engine, order["id"]) == [
        ("BB-1", "ORDERED", 1),
        ("BB-1", "ORDERED", 1),
        ("BB-2", "ORDERED", 1),
    ]
    # A retry of the same payload is the same order.
    again = await client.post(
        "/api/orders",
        json={**order_payload(items=TWO_BURGERS), "id": order["id"], "channelOrderId": order["channelOrderId"]},
    )
    assert again.status_code == 200, again.text
    assert again.json()["id"] == order["id"]


async def test_a_plu_on_two_lines_is_ambiguous_and_changes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    order = await _two_burgers(client)
    before = await row_counts(engine)

    refused = await set_item(client, order["id"], "BB-1", "PREPARING")

    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert (body["code"], body["lines"], body["field"]) == ("ambiguous_plu", [1, 2], "plu")
    assert "lines/{line}/status" in body["detail"]
    assert await row_counts(engine) == before
    # A PLU on one line only is still changed by its PLU, as before.
    fries = await set_item(client, order["id"], "BB-2", "PREPARING")
    assert fries.status_code == 200, fries.text
    assert [i["status"] for i in fries.json()["items"]] == ["ORDERED", "ORDERED", "PREPARING"]


async def test_a_line_changes_alone_with_its_own_history(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    order = await _two_burgers(client)

    second = await _set_line(client, order["id"], 2, "PREPARING")
    assert second.status_code == 200, second.text
    assert [i["status"] for i in second.json()["items"]] == ["ORDERED", "PREPARING", "ORDERED"]
    assert second.json()["status"] == "PREPARING"
    ready = await _set_line(client, order["id"], 2, 3)
    assert ready.status_code == 200, ready.text

    burgers = ready.json()["items"][:2]
    assert [statuses(b["statusHistory"]) for b in burgers] == [["ORDERED"], ["ORDERED", "PREPARING", "READY"]]
    assert await _stored_lines(engine, order["id"]) == [
        ("BB-1", "ORDERED", 1),
        ("BB-1", "READY", 3),
        ("BB-2", "ORDERED", 1),
    ]

    # A refused step names the line's field in the payload.
    skipped = await _set_line(client, order["id"], 1, "READY")
    assert skipped.status_code == 409, skipped.text
    assert (skipped.json()["code"], skipped.json()["field"]) == ("transition_not_allowed", "items[0].status")
    assert "line 1" in skipped.json()["detail"]


@pytest.mark.parametrize("line", ["0", "4", "-1", "99999999999999999999999"])
async def test_a_line_the_order_does_not_have_is_a_404(
    client: httpx.AsyncClient, engine: AsyncEngine, line: str
) -> None:
    order = await _two_burgers(client)
    before = await row_counts(engine)
    response = await _set_line(client, order["id"], line, "PREPARING")
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "line_not_found"
    assert await row_counts(engine) == before


async def test_a_line_that_is_not_a_number_is_refused(client: httpx.AsyncClient) -> None:
    order = await _two_burgers(client)
    response = await _set_line(client, order["id"], "two", "PREPARING")
    assert response.status_code in (400, 404), response.text
    assert response.json()["status"] == response.status_code


async def test_board_taps_and_undo_work_per_line(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    order = await _two_burgers(client)
    ticket = (await tablet.get("/board")).text
    assert f"/board/orders/{order['id']}/lines/1/advance?from=ORDERED" in ticket
    assert f"/board/orders/{order['id']}/lines/2/advance?from=ORDERED" in ticket

    tapped = await tablet.post(f"/board/orders/{order['id']}/lines/2/advance?from=ORDERED")
    assert tapped.status_code == 200, tapped.text
    assert "/lines/2/advance?from=PREPARING" in tapped.text
    assert "/lines/1/advance?from=ORDERED" in tapped.text
    assert [s for _, s, _ in await _stored_lines(engine, order["id"])] == ["ORDERED", "PREPARING", "ORDERED"]

    tap_id = tapped.headers["kitchen-tap"].split()[0]
    undone = await tablet.post(f"/board/taps/{tap_id}/undo")
    assert undone.status_code == 200, undone.text
    assert await _stored_lines(engine, order["id"]) == [
        ("BB-1", "ORDERED", 1),
        ("BB-1", "ORDERED", 3),
        ("BB-2", "ORDERED", 1),
    ]


async def test_all_day_counts_a_plu_made_another_way_as_a_row_of_its_own(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient
) -> None:
    await _two_burgers(client)  # BB-1 plain, BB-1 "No onions", BB-2 x2
    plain = {"plu": "BB-1", "name": "Hawaii Burger", "quantity": 2}
    await client.post("/api/orders", json=order_payload(items=[plain]))
    page = (await tablet.get("/board", params={"brand": "brand-burgers"})).text
    all_day = page.split('id="all-day"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<td class="qty">(\d+)</td><td class="name">([^<]+)</td><td class="plu">([^<]+)</td>', all_day)
    assert rows == [("3", "Hawaii Burger", "BB-1"), ("2", "Fries", "BB-2"), ("1", "Hawaii Burger", "BB-1")]
    options = re.findall(r'<tr class="all-day-modifiers"><td></td><td colspan="2">([^<]+)</td></tr>', all_day)
    assert options == ["No onions"]
    assert all_day.index("No onions") > all_day.rindex('<td class="plu">BB-2</td>'), "under its own row"
