"""GET /api/orders: newest first, paged, filtered."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import FakeClock
from tests.helpers import create_order, set_order

pytestmark = pytest.mark.anyio


async def _three_orders(client: httpx.AsyncClient, clock: FakeClock) -> list[str]:
    ids = []
    for brand, account in (("brand-a", "acc-1"), ("brand-b", "acc-2"), ("brand-a", "acc-2")):
        ids.append((await create_order(client, brandId=brand, account=account))["id"])
        clock.advance(60)
    return ids


async def test_list_is_newest_first_with_total(client: httpx.AsyncClient, clock: FakeClock) -> None:
    ids = await _three_orders(client, clock)
    page = (await client.get("/api/orders")).json()
    assert [o["id"] for o in page["items"]] == ids[::-1]
    assert (page["total"], page["limit"], page["offset"]) == (3, 50, 0)


async def test_pages_follow_limit_and_offset(client: httpx.AsyncClient, clock: FakeClock) -> None:
    ids = await _three_orders(client, clock)
    first = (await client.get("/api/orders", params={"limit": 2})).json()
    second = (await client.get("/api/orders", params={"limit": 2, "offset": 2})).json()
    assert [o["id"] for o in first["items"] + second["items"]] == ids[::-1]
    assert first["total"] == second["total"] == 3
    assert second["offset"] == 2


async def test_a_page_past_the_last_still_counts_every_matching_order(client: httpx.AsyncClient) -> None:
    await create_order(client, brandId="brand-b")
    await create_order(client, brandId="brand-other")

    page = (await client.get("/api/orders", params={"brandId": "brand-b", "offset": 5})).json()

    assert (page["items"], page["total"], page["offset"]) == ([], 1, 5)


async def test_limit_is_capped(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await _three_orders(client, clock)
    page = (await client.get("/api/orders", params={"limit": 100_000})).json()
    assert page["limit"] == 200
    assert len(page["items"]) == 3


async def test_filter_by_brand_account_and_status(client: httpx.AsyncClient, clock: FakeClock) -> None:
    ids = await _three_orders(client, clock)
    await set_order(client, ids[0], "PREPARING")

    async def ids_for(**params: str | list[str]) -> list[str]:
        response = await client.get("/api/orders", params=params)
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json()["items"]]

    assert await ids_for(brandId="brand-a") == [ids[2], ids[0]]
    assert await ids_for(brandId=["brand-a", "brand-b"]) == ids[::-1]
    assert await ids_for(account="acc-2") == [ids[2], ids[1]]
    assert await ids_for(status="PREPARING") == [ids[0]]
    assert await ids_for(status=["1"]) == [ids[2], ids[1]]
    assert await ids_for(status="RECEIVED", brandId="brand-a") == [ids[2]]


async def test_filter_by_created_range(client: httpx.AsyncClient, clock: FakeClock) -> None:
    ids = await _three_orders(client, clock)  # created at 10:00, 10:01, 10:02 UTC
    page = await client.get("/api/orders", params={"from": "2026-03-02T10:01:00Z", "to": "2026-03-02T10:02:00Z"})
    assert [o["id"] for o in page.json()["items"]] == [ids[1]]
    # The same instant written with an offset, and a naive time read as UTC.
    local = await client.get("/api/orders", params={"from": "2026-03-02T12:01:00+02:00", "to": "2026-03-02T10:02:00"})
    assert [o["id"] for o in local.json()["items"]] == [ids[1]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "ten"}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"from": "yesterday"}, "from"),
        ({"status": "LOST"}, "status"),
        ({"status": ["1"] * 101}, "status"),
        ({"brandId": [f"b{i}" for i in range(101)]}, "brandId"),
    ],
)
async def test_bad_list_parameters_are_400(client: httpx.AsyncClient, params: dict[str, str | int], field: str) -> None:
    response = await client.get("/api/orders", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["field"] in (field, {"from": "created_from"}.get(field))
