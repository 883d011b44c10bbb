"""Small builders and probes shared by the HTTP tests."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import EXAMPLE_ORDER, TABLES

_numbers = itertools.count(1)


def order_payload(**overrides: Any) -> dict[str, Any]:
    """A valid 3-item order with a fresh id and channel order id; keys can be overridden."""
    n = next(_numbers)
    payload: dict[str, Any] = {
        "id": f"order-{n}",
        "account": "60bfc6dc4887c9851d5a0246",
        "brandId": "brand-burgers",
        "channelOrderId": f"WOLT-{n}",
        "customer": {"name": "Aino Virtanen", "phoneNumber": "+358401234567"},
        "deliveryAddress": {"street": "Huuvatie 1", "city": "Helsinki", "postalCode": "00100"},
        "pickupTime": "2026-03-02T10:30:00Z",
        "items": [
            {"plu": "BB-1", "name": "Hawaii Burger", "quantity": 1},
            {"plu": "BB-2", "name": "Fries", "quantity": 2},
            {"plu": "BB-3", "name": "Lemonade", "quantity": 1},
        ],
    }
    payload.update(overrides)
    return payload


def pickup_in(minutes: float) -> str:
    """A pickup time `minutes` from now on the real clock (a new order's must be near the server's time)."""
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def live_order_payload(**overrides: Any) -> dict[str, Any]:
    """`order_payload` for a server on the real clock: picked up in half an hour."""
    return order_payload(**{"pickupTime": pickup_in(30), **overrides})


def example_order() -> dict[str, Any]:
    return copy.deepcopy(EXAMPLE_ORDER)


async def create_order(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/orders", json=order_payload(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def set_item(client: httpx.AsyncClient, order_id: str, plu: str, status: Any) -> httpx.Response:
    return await client.patch(f"/api/orders/{order_id}/items/{plu}/status", json={"status": status})


async def set_order(client: httpx.AsyncClient, order_id: str, status: Any) -> httpx.Response:
    return await client.patch(f"/api/orders/{order_id}/status", json={"status": status})


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    """How many rows each table holds: the proof that a rejected request wrote nothing."""
    async with engine.connect() as conn:
        return {table: int((await conn.scalar(text(f"SELECT count(*) FROM {table}"))) or 0) for table in TABLES}


def statuses(history: list[dict[str, Any]]) -> list[str]:
    return [entry["status"] for entry in history]


def item(order: dict[str, Any], plu: str) -> dict[str, Any]:
    found: dict[str, Any] = next(i for i in order["items"] if i["plu"] == plu)
    return found
