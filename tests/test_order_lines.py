"""What an order line carries besides its PLU: notes, modifiers and allergens, in and out unchanged."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import example_order, order_payload, row_counts

pytestmark = pytest.mark.anyio

BURGER = {
    "plu": "BB-1",
    "name": "Hawaii Burger",
    "quantity": 2,
    "note": "well done\nno onions",
    "modifiers": [{"name": "Extra cheese", "plu": "MOD-7", "quantity": 2}, {"name": "No onions"}],
    "allergens": ["sesame", "gluten"],
}


def _with_lines(**overrides: Any) -> dict[str, Any]:
    payload = order_payload(**overrides)
    payload["items"] = [BURGER, {"plu": "BB-2", "name": "Fries", "quantity": 1}]
    payload["note"] = "Allergy: sesame. Ring twice."
    payload["allergens"] = ["sesame"]
    return payload


async def test_notes_modifiers_and_allergens_come_back_as_sent(client: httpx.AsyncClient) -> None:
    payload = _with_lines()
    created = await client.post("/api/orders", json=payload)
    assert created.status_code == 201, created.text
    fetched = (await client.get(f"/api/orders/{payload['id']}")).json()
    listed = (await client.get("/api/orders", params={"brandId": payload["brandId"]})).json()["items"]
    for order in (created.json(), fetched, next(o for o in listed if o["id"] == payload["id"])):
        assert order["note"] == "Allergy: sesame. Ring twice."
        assert order["allergens"] == ["sesame"]
        burger, fries = order["items"]
        assert (burger["line"], fries["line"]) == (1, 2)
        assert burger["note"] == "well done\nno onions"
        assert burger["modifiers"] == [
            {"name": "Extra cheese", "plu": "MOD-7", "quantity": 2},
            {"name": "No onions", "plu": None, "quantity": 1},  # the defaults, filled in
        ]
        assert burger["allergens"] == ["sesame", "gluten"]
        assert (fries["note"], fries["modifiers"], fries["allergens"]) == (None, [], [])


async def test_snake_case_keys_carry_notes_too(client: httpx.AsyncClient) -> None:
    payload = _with_lines()
    payload["items"][0] = {**BURGER, "modifiers": [{"name": "Extra cheese", "plu": None}]}
    created = await client.post("/api/orders", json={"brand_id": payload.pop("brandId"), **payload})
    assert created.status_code == 201, created.text
    assert created.json()["items"][0]["modifiers"] == [{"name": "Extra cheese", "plu": None, "quantity": 1}]


async def test_stored_as_json_text_in_the_rows(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    payload = _with_lines()
    assert (await client.post("/api/orders", json=payload)).status_code == 201
    async with engine.connect() as conn:
        order = (await conn.execute(text("SELECT note, allergens FROM orders WHERE id = :id"), payload)).one()
        items = (
            await conn.execute(
                text("SELECT note, modifiers, allergens FROM order_items WHERE order_id = :id ORDER BY id"), payload
            )
        ).all()
    assert tuple(order) == ("Allergy: sesame. Ring twice.", '["sesame"]')
    assert msgspec.json.decode(items[0][1]) == [
        {"name": "Extra cheese", "plu": "MOD-7", "quantity": 2},
        {"name": "No onions", "plu": None, "quantity": 1},
    ]
    assert tuple(items[1]) == (None, None, None)  # nothing sent, nothing stored


async def test_a_retry_with_the_same_notes_is_the_same_order_and_other_notes_conflict(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    payload = _with_lines()
    assert (await client.post("/api/orders", json=payload)).status_code == 201
    assert (await client.post("/api/orders", json=payload)).status_code == 200
    counts = await row_counts(engine)
    for change in ({"note": "other"}, {"allergens": ["milk"]}):
        assert (await client.post("/api/orders", json={**payload, **change})).status_code == 409
    other_item = {**payload, "items": [{**BURGER, "modifiers": []}, payload["items"][1]]}
    assert (await client.post("/api/orders", json=other_item)).status_code == 409
    assert await row_counts(engine) == counts


async def test_orders_sent_before_lines_existed_keep_their_payload_hash(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # Pinned from the build before notes existed: a channel retrying such an order after the
    # upgrade must get 200, not a 409 because empty new fields changed the hash.
    old = order_payload(id="order-hash", channelOrderId="WOLT-hash", status=1, created="2026-03-02T09:58:00+02:00")
    same_with_empty_notes = {**old, "id": "order-hash-2", "channelOrderId": "WOLT-hash-2", "note": "", "allergens": []}
    for payload in (example_order(), old, same_with_empty_notes):
        assert (await client.post("/api/orders", json=payload)).status_code == 201
    async with engine.connect() as conn:
        stored = dict((await conn.execute(text("SELECT channel_order_id, payload_hash FROM orders"))).all())
    assert stored["TEST1626898082"] == "9524c5ea94fad989510ba430b258a50ceaa4ab91e1621c78f368c09485d9afe8"
    assert stored["WOLT-hash"] == "d4c7a4f351958da377b5adb048975bb37d0f0420ab6337e644985f17047c3f07"
    assert stored["WOLT-hash-2"] != stored["WOLT-hash"]  # other ids; the hash itself is checked below
    again = await client.post("/api/orders", json={**old, "note": None, "allergens": []})
    assert again.status_code == 200, again.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"note": "x" * 501}, "note"),
        ({"note": "bell\x07"}, "note"),
        ({"allergens": ["x"] * 21}, "allergens"),
        ({"allergens": [""]}, "allergens[0]"),
        ({"items": [{**BURGER, "modifiers": [{"name": "x", "quantity": 0}]}]}, "items[0].modifiers[0].quantity"),
        ({"items": [{**BURGER, "modifiers": [{"plu": "M"}]}]}, "items[0].modifiers[0].name"),
        ({"items": [{**BURGER, "modifiers": [{"name": "x"}] * 31}]}, "items[0].modifiers"),
        ({"items": [{**BURGER, "note": 7}]}, "items[0].note"),
        ({"items": [{**BURGER, "allergens": "sesame"}]}, "items[0].allergens"),
    ],
    ids=[
        "long-note",
        "control-character",
        "many-allergens",
        "empty-allergen",
        "zero-modifier",
        "nameless-modifier",
        "many-modifiers",
        "numeric-note",
        "allergens-not-a-list",
    ],
)
async def test_bad_lines_are_refused_with_the_field_and_write_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, change: dict[str, Any], field: str
) -> None:
    counts = await row_counts(engine)
    response = await client.post("/api/orders", json={**_with_lines(), **change})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert await row_counts(engine) == counts


async def test_the_ticket_shows_modifiers_notes_and_allergy_bands(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient
) -> None:
    payload = _with_lines()
    payload["items"].append({"plu": "BB-3", "name": "Shake", "quantity": 1, "note": "nut allergy, use a clean jug"})
    assert (await client.post("/api/orders", json=payload)).status_code == 201
    page = (await tablet.get("/board")).text
    assert '<p class="allergy-band" role="alert">ALLERGY: sesame, gluten</p>' in page  # the order's and its lines'
    assert '<p class="order-note">Allergy: sesame. Ring twice.</p>' in page
    assert '<ul class="modifiers"><li>2\u00d7 Extra cheese</li><li>No onions</li></ul>' in page
    assert '<span class="item-note">well done\nno onions</span>' in page  # in full, line break kept
    assert '<span class="allergy-band">ALLERGY: sesame, gluten</span>' in page
    # A note that names an allergen warns even when the channel sent no allergens for the line.
    assert '<span class="allergy-band">ALLERGY: see note</span>' in page
    assert page.count('class="allergy-band"') == 3  # the header, the burger, the shake; not the fries


async def test_a_note_with_markup_is_shown_as_text(client: httpx.AsyncClient, tablet: httpx.AsyncClient) -> None:
    payload = _with_lines()
    payload["note"] = '<script>alert("x")</script>'
    assert (await client.post("/api/orders", json=payload)).status_code == 201
    page = (await tablet.get("/board")).text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
