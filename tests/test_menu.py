"""A brand's menu routes its PLUs to stations: PUT replaces it whole, GET returns it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kitchen.menu.service import MenuService
from tests.helpers import create_order

pytestmark = pytest.mark.anyio

BURGERS_MENU = [
    {"plu": "BB-1", "name": "Hawaii Burger", "station": "grill", "prepSeconds": 480},
    {"plu": "BB-2", "name": "Fries", "station": "fryer", "prepSeconds": 240},
    {"plu": "BB-3", "name": "Lemonade", "station": "drinks"},
]


async def put_menu(client: httpx.AsyncClient, brand_id: str, menu: list[dict[str, Any]]) -> httpx.Response:
    return await client.put(f"/api/brands/{brand_id}/menu", json=menu)


async def test_a_menu_is_stored_and_returned_by_plu(client: httpx.AsyncClient) -> None:
    response = await put_menu(client, "brand-burgers", list(reversed(BURGERS_MENU)))
    assert response.status_code == 200, response.text
    expected = [{**entry, "prepSeconds": entry.get("prepSeconds")} for entry in BURGERS_MENU]
    assert response.json() == expected
    assert (await client.get("/api/brands/brand-burgers/menu")).json() == expected


async def test_put_replaces_the_whole_menu(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await put_menu(client, "brand-burgers", BURGERS_MENU)
    await put_menu(client, "brand-sushi", [{"plu": "SU-1", "name": "Maki", "station": "cold", "prepSeconds": 300}])
    replaced = await put_menu(client, "brand-burgers", [{"plu": "BB-9", "name": "Shake", "station": "drinks"}])
    assert [e["plu"] for e in replaced.json()] == ["BB-9"]
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT brand_id, plu FROM menu_items ORDER BY brand_id, plu"))).all()
    assert [tuple(r) for r in rows] == [("brand-burgers", "BB-9"), ("brand-sushi", "SU-1")]
    assert (await put_menu(client, "brand-burgers", [])).json() == []
    assert (await client.get("/api/brands/brand-burgers/menu")).json() == []


async def test_a_brand_without_a_menu_has_an_empty_one(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/brands/nobody/menu")
    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"plu": "X", "name": "X", "station": "Grill"}, "[1].station"),
        ({"plu": "X", "name": "X", "station": ""}, "[1].station"),
        ({"plu": "X", "name": "X", "station": "grill\n"}, "[1].station"),
        ({"plu": "X", "name": "X", "station": "g" * 41}, "[1].station"),
        ({"plu": "X", "name": "X", "station": "expo"}, "[1].station"),
        ({"plu": "X", "name": "X", "station": "unassigned"}, "[1].station"),
        ({"plu": "X", "name": "X", "station": "grill", "prepSeconds": -1}, "[1].prepSeconds"),
        ({"plu": "X", "name": "X", "station": "grill", "prepSeconds": 86401}, "[1].prepSeconds"),
        ({"plu": "X", "name": "X", "station": "grill", "prepSeconds": 10**30}, "[1].prepSeconds"),
        ({"plu": "X", "name": "X", "station": "grill", "prepSeconds": "60"}, "[1].prepSeconds"),
        ({"plu": "BB-1", "name": "Again", "station": "grill"}, "[1].plu"),
        ({"plu": "", "name": "X", "station": "grill"}, "[1].plu"),
        ({"name": "X", "station": "grill"}, "[1].plu"),
    ],
)
async def test_a_bad_menu_entry_is_refused_and_nothing_changes(
    client: httpx.AsyncClient, entry: dict[str, Any], field: str
) -> None:
    await put_menu(client, "brand-burgers", BURGERS_MENU)
    response = await put_menu(client, "brand-burgers", [BURGERS_MENU[0], entry])
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert [e["plu"] for e in (await client.get("/api/brands/brand-burgers/menu")).json()] == ["BB-1", "BB-2", "BB-3"]


async def test_a_menu_must_be_a_list(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/brands/brand-burgers/menu", json={"plu": "X"})
    assert response.status_code in (400, 422)
    assert (await client.get("/api/brands/brand-burgers/menu")).json() == []


async def test_stations_are_those_the_menus_name_then_unassigned(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/stations")).json() == [{"name": "unassigned", "menuItems": 0}]
    await put_menu(client, "brand-burgers", BURGERS_MENU)
    await put_menu(client, "brand-sushi", [{"plu": "SU-1", "name": "Maki", "station": "grill"}])
    assert (await client.get("/api/stations")).json() == [
        {"name": "drinks", "menuItems": 1},
        {"name": "fryer", "menuItems": 1},
        {"name": "grill", "menuItems": 2},
        {"name": "unassigned", "menuItems": 0},
    ]


async def test_the_menu_needs_an_api_key(client: httpx.AsyncClient) -> None:
    anonymous = {"Authorization": ""}
    assert (await client.get("/api/brands/b/menu", headers=anonymous)).status_code == 401
    assert (await client.put("/api/brands/b/menu", json=[], headers=anonymous)).status_code == 401
    assert (await client.get("/api/stations", headers=anonymous)).status_code == 401


async def test_unmapped_plus_are_listed_until_a_menu_names_them(client: httpx.AsyncClient, app: Any) -> None:
    await create_order(client)  # BB-1, BB-2, BB-3 of brand-burgers
    await put_menu(client, "brand-burgers", BURGERS_MENU[:1])
    async with app.state.sessions() as session:
        unmapped = await MenuService(session).unmapped(app.state.clock().replace(year=2000))
    assert [(u.brand_id, u.plu, u.lines) for u in unmapped] == [
        ("brand-burgers", "BB-2", 1),
        ("brand-burgers", "BB-3", 1),
    ]


async def test_the_manage_page_lists_plus_no_menu_routes(client: httpx.AsyncClient, manager: httpx.AsyncClient) -> None:
    await create_order(client)
    await put_menu(client, "brand-burgers", BURGERS_MENU[1:])
    page = (await manager.get("/manage")).text
    unmapped = page[page.index('id="unmapped"') :]
    assert "BB-1" in unmapped
    assert "Hawaii Burger" in unmapped
    assert "BB-2" not in unmapped
