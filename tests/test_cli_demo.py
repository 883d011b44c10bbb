"""The `kitchen` command as the README uses it: migrate, fill demo data, serve it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from kitchen.app import create_app
from kitchen.settings import Settings

KITCHEN = str(Path(sys.executable).with_name("kitchen"))


def run_kitchen(url: str, *args: str) -> str:
    env = {**os.environ, "KITCHEN_DATABASE_URL": url, "KITCHEN_LOG_LEVEL": "WARNING"}
    done = subprocess.run([KITCHEN, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def demo_database(tmp_path: Path) -> tuple[str, str]:
    """A demo database and the API key the first start printed (its last line)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}"
    run_kitchen(url, "database", "upgrade", "--no-prompt")
    output = run_kitchen(url, "demo", "--if-empty", "--days", "1")
    assert "created" in output
    assert "user manager   password " in output
    return url, output.strip().splitlines()[-1]


def test_demo_fills_once_and_leaves_a_filled_database_alone(demo_database: tuple[str, str]) -> None:
    assert "leaving it" in run_kitchen(demo_database[0], "demo", "--if-empty")


def test_the_demo_refuses_a_filled_database_plainly(demo_database: tuple[str, str]) -> None:
    env = {**os.environ, "KITCHEN_DATABASE_URL": demo_database[0], "KITCHEN_LOG_LEVEL": "WARNING"}
    done = subprocess.run([KITCHEN, "demo"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert "the database already has orders" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@contextlib.asynccontextmanager
async def demo_api(url: str, key: str) -> AsyncIterator[httpx.AsyncClient]:
    """The JSON API of an app on the demo database, with the demo's API key."""
    app = create_app(Settings(database_url=url))
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        http.headers["Authorization"] = f"Bearer {key}"
        yield http


@pytest.mark.anyio
async def test_demo_orders_cover_every_status_and_several_brands(demo_database: tuple[str, str]) -> None:
    async with demo_api(*demo_database) as http:
        page = (await http.get("/api/orders", params={"limit": 200})).json()
    orders = page["items"]
    assert page["total"] >= 20
    assert set(Counter(o["status"] for o in orders)) == {"RECEIVED", "PREPARING", "READY", "PICKED_UP", "CANCELLED"}
    assert len({o["brandId"] for o in orders}) >= 3
    assert len({o["account"] for o in orders}) < len(orders), "some customers come back"
    items = [i for o in orders for i in o["items"]]
    assert any(i["modifiers"] for i in items), "lines carry what real orders carry"
    assert any(i["note"] for i in items)
    assert any(i["allergens"] for i in items)


@pytest.mark.anyio
async def test_demo_menus_route_every_demo_plu_to_one_of_several_stations(demo_database: tuple[str, str]) -> None:
    async with demo_api(*demo_database) as http:
        stations = [s["name"] for s in (await http.get("/api/stations")).json()]
        orders = (await http.get("/api/orders", params={"limit": 200})).json()["items"]
        menus = {o["brandId"]: (await http.get(f"/api/brands/{o['brandId']}/menu")).json() for o in orders}
    assert len(stations) >= 5  # four or more kitchen stations, then unassigned
    assert stations[-1] == "unassigned"
    routed = {(brand_id, entry["plu"]) for brand_id, menu in menus.items() for entry in menu}
    assert all((o["brandId"], i["plu"]) in routed for o in orders for i in o["items"])
    assert all(entry["prepSeconds"] for menu in menus.values() for entry in menu)
