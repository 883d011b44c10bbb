"""Inputs from outside that once crashed a page or answered 500: each refused with a clear 4xx that
names what is wrong, writing nothing, the same on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from kitchen.orders.models import Order, OrderItem
from tests.helpers import create_order, order_payload, row_counts, set_item, set_order

pytestmark = pytest.mark.anyio

DEEP = {"customer": "[" * 2000 + "]" * 2000}


def deeply_nested(key: str) -> bytes:
    return ('{"' + key + '": ' + "[" * 2000 + "]" * 2000 + "}").encode()


async def assert_refused(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    if field is not None:
        assert body.get("field") == field, body
    return body


# --- one order can no longer take every board down -------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pickupTime", "9999-12-31T23:59:59Z"),
        ("pickupTime", "0001-01-01T00:00:00Z"),
        ("pickupTime", "2026-05-02T10:00:00Z"),  # two months ahead of the test clock
        ("created", "2020-01-01T00:00:00Z"),
        ("created", "2026-03-04T10:00:00Z"),
    ],
)
async def test_times_far_from_now_are_refused_by_field(
    client: httpx.AsyncClient, engine: AsyncEngine, field: str, value: str
) -> None:
    before = await row_counts(engine)
    await assert_refused(await client.post("/api/orders", json=order_payload(**{field: value})), 422, field)
    assert await row_counts(engine) == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"pickupTime": "0001-01-01T00:00:00+14:00"}, "pickupTime"),
        ({"pickupTime": "9999-12-31T23:59:59-14:00"}, "pickupTime"),
        ({"created": "0001-01-01T00:00:00+14:00"}, "created"),
        ({"statusHistory": [{"status": 1, "timestamp": "9999-12-31T23:59:59-14:00"}]}, "statusHistory[0].timestamp"),
    ],
)
async def test_times_outside_years_1_to_9999_in_utc_are_a_422(
    client: httpx.AsyncClient, overrides: dict[str, Any], field: str
) -> None:
    await assert_refused(await client.post("/api/orders", json=order_payload(**overrides)), 422, field)


async def test_a_ticket_that_cannot_be_shown_does_not_break_the_board(
    client: httpx.AsyncClient, tablet: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    good = await create_order(client)
    # An order stored before times were checked, with a pickup time no clock can show.
    async with engine.begin() as conn:
        await conn.execute(
            insert(Order).values(
                id="legacy-9999",
                account="acct",
                brand_id="brand-burgers",
                channel_order_id="OLD-1",
                customer_name="Old",
                pickup_time=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
                status="RECEIVED",
                version=1,
                payload_hash="x" * 64,
                created_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
                updated_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
            )
        )
        await conn.execute(
            insert(OrderItem).values(order_id="legacy-9999", plu="X", name="X", quantity=1, status="ORDERED")
        )

    for page in ("/board", "/board/tickets"):
        response = await tablet.get(page)
        assert response.status_code == 200, page
        assert "Order legacy-9999: cannot display, see manager" in response.text
        assert good["customer"]["name"] in response.text, "the other tickets render"


# --- bodies, paths and queries that gave 500 -----------------------------------------------------------


async def test_deeply_nested_json_is_a_400_everywhere(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    order = await create_order(client)
    before = await row_counts(engine)
    headers = {"content-type": "application/json"}
    for method, url in (
        ("POST", "/api/orders"),
        ("PATCH", f"/api/orders/{order['id']}/status"),
        ("PATCH", f"/api/orders/{order['id']}/items/BB-1/status"),
        ("PUT", "/api/brands/b1"),
    ):
        body = deeply_nested("status" if method == "PATCH" else "customer")
        response = await client.request(method, url, content=body, headers=headers)
        assert response.status_code == 400, (url, response.text)
        assert response.json()["code"] == "malformed_json"
    # 40 levels parse, but are refused as deeper than a payload can be.
    nested = '{"customer": ' + "[" * 40 + "]" * 40 + "}"
    await assert_refused(await client.post("/api/orders", content=nested, headers=headers), 422)
    assert await row_counts(engine) == before


@pytest.mark.parametrize("parameter", ["from", "to"])
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/orders",
        "/api/analytics/status-durations",
        "/api/analytics/throughput",
        "/api/analytics/customers",
        "/api/analytics/on-time",
        "/api/analytics/items",
        "/api/analytics/ticket-times",
        "/api/analytics/brands",
    ],
)
async def test_extreme_range_bounds_are_a_400_naming_the_parameter(
    client: httpx.AsyncClient, path: str, parameter: str, value: str
) -> None:
    await assert_refused(await client.get(path, params={parameter: value}), 400, parameter)


async def test_a_dashboard_range_over_every_year_is_a_400(manager: httpx.AsyncClient) -> None:
    response = await manager.get(
        "/dashboard/panels", params={"range": "custom", "from": "0001-01-01", "to": "9999-12-31"}
    )
    assert response.status_code == 400
    assert "Cannot show that" in response.text


async def test_a_huge_offset_is_a_400(client: httpx.AsyncClient) -> None:
    await assert_refused(await client.get("/api/orders", params={"offset": "9223372036854775808"}), 400, "offset")


@pytest.mark.parametrize("parameter", ["brandId", "account", "status"])
async def test_nul_in_a_query_value_is_a_400_naming_it(client: httpx.AsyncClient, parameter: str) -> None:
    await assert_refused(await client.get(f"/api/orders?{parameter}=a%00b"), 400, parameter)


@pytest.mark.parametrize("path", ["/api/orders/%00", "/api/orders/a%0Ab", "/static/css/kitchen.css%00.py", "/board%00"])
async def test_a_control_character_in_the_path_is_a_400(client: httpx.AsyncClient, path: str) -> None:
    body = await assert_refused(await client.get(path), 400, "path")
    assert body["code"] == "invalid_path"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"id": "a\u0000b"}, "id"),
        ({"brandId": "brand\u0000"}, "brandId"),
        ({"channelOrderId": "W\u00001"}, "channelOrderId"),
        ({"account": "line\nbreak"}, "account"),
        ({"id": "trailing-newline\n"}, "id"),
        ({"customer": {"name": "A\u0000"}}, "customer.name"),
        ({"items": [{"plu": "P\u0000", "name": "X", "quantity": 1}]}, "items[0].plu"),
        ({"items": [{"plu": "P", "name": "X\u0000", "quantity": 1}]}, "items[0].name"),
    ],
)
async def test_nul_in_any_string_and_control_characters_in_identifiers_are_refused(
    client: httpx.AsyncClient, engine: AsyncEngine, overrides: dict[str, Any], field: str
) -> None:
    await assert_refused(await client.post("/api/orders", json=order_payload(**overrides)), 422, field)
    assert (await row_counts(engine))["orders"] == 0


# --- strict parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"items": [{"plu": "A", "name": "A", "quantity": "1"}]}, "items[0].quantity"),
        ({"items": [{"plu": "A", "name": "A", "quantity": 1.0}]}, "items[0].quantity"),
        ({"items": [{"plu": "A", "name": "A", "quantity": 1e2}]}, "items[0].quantity"),
        ({"pickupTime": 1772447400}, "pickupTime"),
        ({"status": " RECEIVED"}, "status"),
    ],
)
async def test_no_coercion_of_mistyped_fields(client: httpx.AsyncClient, overrides: dict[str, Any], field: str) -> None:
    await assert_refused(await client.post("/api/orders", json=order_payload(**overrides)), 422, field)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
async def test_a_body_that_is_not_said_to_be_json_is_a_415(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post(
        "/api/orders",
        content=httpx.Request("POST", "/", json=order_payload()).content,
        headers={"content-type": content_type},
    )
    await assert_refused(response, 415)


async def test_a_key_given_twice_is_a_422(client: httpx.AsyncClient) -> None:
    twice = json.dumps(order_payload()).replace('"account": ', '"account": "first", "account": ', 1)
    assert twice.count('"account"') == 2
    headers = {"content-type": "application/json"}
    await assert_refused(await client.post("/api/orders", content=twice, headers=headers), 422, "account")


async def test_both_spellings_of_a_key_are_a_422(client: httpx.AsyncClient) -> None:
    payload = order_payload()
    payload["brand_id"] = "another-brand"
    await assert_refused(await client.post("/api/orders", json=payload), 422, "brandId")


async def test_an_empty_body_says_so(client: httpx.AsyncClient) -> None:
    order = await create_order(client)
    response = await client.patch(
        f"/api/orders/{order['id']}/status", content=b"", headers={"content-type": "application/json"}
    )
    body = await assert_refused(response, 400)
    assert "empty" in body["detail"]


async def test_nan_is_not_json(client: httpx.AsyncClient) -> None:
    raw = json.dumps(order_payload()).replace('"quantity": 1', '"quantity": NaN', 1)
    assert "NaN" in raw
    response = await client.post("/api/orders", content=raw, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422), response.text


async def test_a_brand_colour_with_a_trailing_newline_is_refused(client: httpx.AsyncClient) -> None:
    await assert_refused(await client.put("/api/brands/b1", json={"name": "X", "colour": "#e4572e\n"}), 422, "colour")


# --- identifiers with a slash are routed ----------------------------------------------------------------


async def test_ids_and_plus_with_a_slash_are_reachable(client: httpx.AsyncClient, tablet: httpx.AsyncClient) -> None:
    items = [{"plu": "PZ/HALF", "name": "Half and half", "quantity": 1}, {"plu": "B", "name": "Bread", "quantity": 1}]
    order = await create_order(client, id="ord/slash1", items=items)

    assert (await client.get("/api/orders/ord%2Fslash1")).json()["id"] == "ord/slash1"
    changed = await set_item(client, "ord%2Fslash1", "PZ%2FHALF", "PREPARING")
    assert changed.status_code == 200, changed.text
    tapped = await tablet.post("/board/orders/ord%2Fslash1/lines/1/advance")
    assert tapped.status_code == 200, tapped.text
    assert "/board/orders/ord%2Fslash1/lines/1/advance" not in tapped.text  # READY: no further tap
    final = (await client.get("/api/orders/ord%2Fslash1")).json()
    assert [(i["plu"], i["status"]) for i in final["items"]] == [("PZ/HALF", "READY"), ("B", "ORDERED")]
    assert (await set_order(client, "ord%2Fslash1", "READY")).status_code == 200
    assert order["id"] == "ord/slash1"
