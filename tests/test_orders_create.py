"""POST /api/orders: the channel payload as it comes, idempotent retries, and bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import FakeClock
from tests.helpers import example_order, order_payload, row_counts, statuses

pytestmark = pytest.mark.anyio


async def test_example_payload_round_trips(client: httpx.AsyncClient, clock: FakeClock) -> None:
    created = await client.post("/api/orders", json=example_order())
    assert created.status_code == 201, created.text
    fetched = await client.get("/api/orders/60f87ea2a52dad8a3fa4860")
    assert fetched.status_code == 200
    order = fetched.json()
    assert order == created.json()
    assert order["id"] == "60f87ea2a52dad8a3fa4860"
    assert order["account"] == "60bfc6dc4887c9851d5a0246"
    assert order["brandId"] == "60bfc6dc4887c9851d5a0245"
    assert order["channelOrderId"] == "TEST1626898082"
    assert order["customer"] == {"name": "John Doe", "phoneNumber": "+123456789"}
    assert order["deliveryAddress"] == {"street": "Huuvatie 1", "city": "Helsinki", "postalCode": "00100"}
    assert order["pickupTime"] == "2026-03-02T10:08:02Z"
    assert order["created"] == "2026-03-02T09:48:02Z"
    assert order["status"] == "RECEIVED"
    assert [(i["plu"], i["name"], i["quantity"], i["status"]) for i in order["items"]] == [
        ("CAT1-0001", "Hawaii Burger", 1, "ORDERED"),
        ("CAT2-0001", "Sushi Set Large", 1, "ORDERED"),
    ]
    assert order["createdAt"] == order["updatedAt"] == "2026-03-02T10:00:00Z"


async def test_channel_history_is_kept_and_marked_as_the_channels(client: httpx.AsyncClient) -> None:
    order = (await client.post("/api/orders", json=example_order())).json()
    assert order["statusHistory"] == [
        {
            "status": "PICKED_UP",
            "timestamp": "2026-03-02T09:48:02Z",
            "source": "channel",
            "actor": None,
            "reason": None,
        },
        {"status": "RECEIVED", "timestamp": "2026-03-02T09:50:00Z", "source": "channel", "actor": None, "reason": None},
        {
            "status": "RECEIVED",
            "timestamp": "2026-03-02T10:00:00Z",
            "source": "api",
            "actor": "api-key:test-channel",
            "reason": None,
        },
    ]
    for item in order["items"]:
        assert item["statusHistory"] == [
            {
                "status": "ORDERED",
                "timestamp": "2026-03-02T10:00:00Z",
                "source": "api",
                "actor": "api-key:test-channel",
                "reason": None,
            }
        ]


async def test_snake_case_keys_and_unknown_keys_are_accepted(client: httpx.AsyncClient) -> None:
    payload = {
        "id": "snake-1",
        "account": "acc-1",
        "brand_id": "brand-1",
        "channel_order_id": "CH-1",
        "customer": {"name": "Eero", "phone_number": "+358"},
        "delivery_address": {"street": "Bulevardi 1", "city": "Helsinki", "postal_code": "00120"},
        "pickup_time": "2026-03-02T10:30:00",
        "items": [{"plu": "X-1", "name": "Soup", "quantity": 2, "allergens": ["gluten"]}],
        "tip": {"amount": 2},
    }
    response = await client.post("/api/orders", json=payload)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["brandId"] == "brand-1"
    assert order["customer"]["phoneNumber"] == "+358"
    assert order["deliveryAddress"]["postalCode"] == "00120"
    # A naive time is read as UTC and answered with an explicit Z.
    assert order["pickupTime"] == "2026-03-02T10:30:00Z"


async def test_offset_times_are_stored_as_utc(client: httpx.AsyncClient) -> None:
    order = (await client.post("/api/orders", json=order_payload(pickupTime="2026-03-02T12:30:00+02:00"))).json()
    assert order["pickupTime"] == "2026-03-02T10:30:00Z"


async def test_order_without_id_gets_a_generated_one(client: httpx.AsyncClient) -> None:
    payload = order_payload()
    del payload["id"]
    order = (await client.post("/api/orders", json=payload)).json()
    assert len(order["id"]) == 36
    assert (await client.get(f"/api/orders/{order['id']}")).status_code == 200


async def test_retried_post_returns_existing_order(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    payload = example_order()
    first = await client.post("/api/orders", json=payload)
    counts = await row_counts(engine)
    again = await client.post("/api/orders", json=payload)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert await row_counts(engine) == counts


async def test_retry_without_id_matches_on_brand_and_channel_order_id(client: httpx.AsyncClient) -> None:
    payload = order_payload()
    del payload["id"]
    first = await client.post("/api/orders", json=payload)
    again = await client.post("/api/orders", json=payload)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]


@pytest.mark.parametrize(
    "change",
    [
        {"items": [{"plu": "CAT1-0001", "name": "Hawaii Burger", "quantity": 2}]},
        {"pickupTime": "2026-03-02T10:20:00Z"},
        {"_id": "another-id"},
    ],
    ids=["other-items", "other-pickup", "same-channel-order-other-id"],
)
async def test_same_order_with_other_content_is_a_conflict(
    client: httpx.AsyncClient, engine: AsyncEngine, change: dict[str, Any]
) -> None:
    await client.post("/api/orders", json=example_order())
    counts = await row_counts(engine)
    response = await client.post("/api/orders", json={**example_order(), **change})
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate_order"
    assert await row_counts(engine) == counts


async def test_twenty_identical_posts_at_once_leave_one_order(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    payload = example_order()
    responses = await asyncio.gather(*(client.post("/api/orders", json=payload) for _ in range(20)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 19 + [201], [r.text for r in responses if r.status_code not in (200, 201)]
    assert len({r.json()["id"] for r in responses}) == 1
    counts = await row_counts(engine)
    assert counts["orders"] == 1
    assert counts["order_items"] == 2
    # Two channel events and one server event: no retry added history.
    assert counts["order_status_events"] == 3


def _without(path: str) -> dict[str, Any]:
    payload = order_payload()
    *parents, leaf = path.split(".")
    target = payload
    for key in parents:
        target = target[key]
    del target[leaf]
    return payload


BAD_PAYLOADS: dict[str, tuple[dict[str, Any], str]] = {
    "missing account": (_without("account"), "account"),
    "missing brandId": (_without("brandId"), "brandId"),
    "missing channelOrderId": (_without("channelOrderId"), "channelOrderId"),
    "missing customer name": (_without("customer.name"), "customer.name"),
    "missing pickupTime": (_without("pickupTime"), "pickupTime"),
    "missing items": (_without("items"), "items"),
    "empty items": (order_payload(items=[]), "items"),
    "quantity zero": (order_payload(items=[{"plu": "A", "name": "A", "quantity": 0}]), "items[0].quantity"),
    "quantity too big": (order_payload(items=[{"plu": "A", "name": "A", "quantity": 1000}]), "items[0].quantity"),
    "quantity not a number": (
        order_payload(items=[{"plu": "A", "name": "A", "quantity": "many"}]),
        "items[0].quantity",
    ),
    "quantity fractional": (order_payload(items=[{"plu": "A", "name": "A", "quantity": 1.5}]), "items[0].quantity"),
    "name not a string": (order_payload(items=[{"plu": "A", "name": 7, "quantity": 1}]), "items[0].name"),
    "empty plu": (order_payload(items=[{"plu": "", "name": "A", "quantity": 1}]), "items[0].plu"),
    "items not a list": (order_payload(items={"plu": "A"}), "items"),
    "bad pickupTime": (order_payload(pickupTime="tomorrow"), "pickupTime"),
    "unknown order status": (order_payload(status="SHIPPED"), "status"),
    "unknown order status code": (order_payload(status=9), "status"),
    "order not starting RECEIVED": (order_payload(status=3), "status"),
    "unknown item status": (
        order_payload(items=[{"plu": "A", "name": "A", "quantity": 1, "status": 4}]),
        "items[0].status",
    ),
    "unknown history status": (
        order_payload(statusHistory=[{"status": 42, "timestamp": "2026-03-02T09:00:00Z"}]),
        "statusHistory[0].status",
    ),
    "too many items": (
        order_payload(items=[{"plu": f"P{i}", "name": "x", "quantity": 1} for i in range(101)]),
        "items",
    ),
    "id too long": (order_payload(id="x" * 65), "id"),
    "body not an object": ([1, 2, 3], ""),  # type: ignore[dict-item]
}


@pytest.mark.parametrize(("payload", "field"), BAD_PAYLOADS.values(), ids=BAD_PAYLOADS.keys())
async def test_bad_payload_is_rejected_with_the_field_and_writes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, payload: Any, field: str
) -> None:
    before = await row_counts(engine)
    response = await client.post("/api/orders", json=payload)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["status"] == 422
    assert body["detail"]
    if field:
        assert body["field"] == field, body
    assert before["orders"] == 0
    assert await row_counts(engine) == before


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"items": [', '{"a": "\udcff"}'.encode("utf-8", "surrogatepass")])
async def test_malformed_json_is_a_400(client: httpx.AsyncClient, engine: AsyncEngine, raw: bytes) -> None:
    response = await client.post("/api/orders", content=raw, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert response.json()["code"] in ("malformed_json", "invalid_field")
    assert (await row_counts(engine))["orders"] == 0


async def test_oversized_body_is_refused_before_parsing(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    huge = order_payload(customer={"name": "x" * 300_000})
    response = await client.post("/api/orders", json=huge)
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert (await row_counts(engine))["orders"] == 0


async def test_status_history_by_name_is_accepted(client: httpx.AsyncClient) -> None:
    payload = order_payload(statusHistory=[{"status": "received", "timestamp": "2026-03-02T09:59:00Z"}])
    order = (await client.post("/api/orders", json=payload)).json()
    assert statuses(order["statusHistory"]) == ["RECEIVED", "RECEIVED"]
    assert [e["source"] for e in order["statusHistory"]] == ["channel", "api"]
