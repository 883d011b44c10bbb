"""The manager dashboard through HTTP: the same figures as the API, filters, CSV, live refresh."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from urllib.parse import quote

import httpx
import pytest
from litestar import Litestar

from kitchen.board.live import BoardHub
from tests.conftest import FakeClock
from tests.helpers import create_order, set_item, set_order

pytestmark = pytest.mark.anyio


async def cook_two_orders(client: httpx.AsyncClient, clock: FakeClock) -> None:
    """Two orders on 2026-03-02 (Helsinki), one per brand, each cooked in known minutes."""
    for brand, cooking in (("brand-burgers", 300), ("brand-sushi", 900)):
        order = await create_order(client, brandId=brand, pickupTime="2026-03-02T10:20:00Z")
        clock.advance(60)
        await set_order(client, order["id"], "PREPARING")
        clock.advance(cooking)
        await set_order(client, order["id"], "READY")
        clock.advance(120)
        await set_order(client, order["id"], "PICKED_UP")


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_dashboard_shows_the_figures_of_the_api(
    client: httpx.AsyncClient, manager: httpx.AsyncClient, clock: FakeClock
) -> None:
    await cook_two_orders(client, clock)
    page = await manager.get("/dashboard", params={"range": "today"})
    assert page.status_code == 200
    text = page.text
    assert re.search(r'<span class="value">2</span><span class="label">orders received', text)
    # Cooking took 5 and 15 minutes: the median is 10 minutes.
    assert re.search(r'<span class="value">10.0 min</span><span class="label">median cooking', text)
    api = (await client.get("/api/analytics/status-durations", params={"from": "2026-03-01T22:00:00Z"})).json()
    preparing = next(r for r in api["orders"] if r["status"] == "PREPARING")
    assert preparing["p50Seconds"] == 600
    assert "<svg" in text
    assert "<rect" in text


async def test_csv_downloads_match_the_api(
    client: httpx.AsyncClient, manager: httpx.AsyncClient, clock: FakeClock
) -> None:
    await cook_two_orders(client, clock)
    response = await manager.get("/dashboard/csv/status-durations", params={"range": "today"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = read_csv(response.text)
    preparing = next(r for r in rows if (r["subject"], r["status"]) == ("order", "PREPARING"))
    assert (preparing["count"], float(preparing["p50_seconds"])) == ("2", 600.0)
    for table in ("throughput", "customers", "top-customers", "on-time", "items", "ticket-times", "brands"):
        download = await manager.get(f"/dashboard/csv/{table}", params={"range": "today"})
        assert download.status_code == 200, table
        assert read_csv(download.text), table
    on_time = read_csv((await manager.get("/dashboard/csv/on-time", params={"range": "today"})).text)[0]
    assert (on_time["orders"], on_time["on_time"]) == ("2", "1")


async def test_brand_filter_narrows_every_figure(
    client: httpx.AsyncClient, manager: httpx.AsyncClient, clock: FakeClock
) -> None:
    await cook_two_orders(client, clock)
    rows = read_csv(
        (await manager.get("/dashboard/csv/status-durations", params={"range": "today", "brand": "brand-sushi"})).text
    )
    preparing = next(r for r in rows if (r["subject"], r["status"]) == ("order", "PREPARING"))
    assert (preparing["count"], float(preparing["p50_seconds"])) == ("1", 900.0)


async def test_yesterday_is_the_previous_kitchen_day(
    client: httpx.AsyncClient, manager: httpx.AsyncClient, clock: FakeClock
) -> None:
    await cook_two_orders(client, clock)
    clock.advance(24 * 3600)
    yesterday = read_csv((await manager.get("/dashboard/csv/on-time", params={"range": "yesterday"})).text)[0]
    today = read_csv((await manager.get("/dashboard/csv/on-time", params={"range": "today"})).text)[0]
    assert (yesterday["orders"], today["orders"]) == ("2", "0")


async def test_custom_days_are_kitchen_local_and_inclusive(
    client: httpx.AsyncClient, manager: httpx.AsyncClient, clock: FakeClock
) -> None:
    await cook_two_orders(client, clock)
    params = {"range": "custom", "from": "2026-03-02", "to": "2026-03-02"}
    throughput = read_csv((await manager.get("/dashboard/csv/throughput", params=params)).text)
    assert len(throughput) == 24
    assert throughput[0]["hour"] == "2026-03-02T00:00:00+02:00"
    assert sum(int(r["received"]) for r in throughput) == 2


async def test_panels_swap_alone_and_keep_the_filters_in_the_address(
    client: httpx.AsyncClient, manager: httpx.AsyncClient
) -> None:
    response = await manager.get("/dashboard/panels", params={"range": "7d", "brand": "brand-sushi"})
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.headers["hx-push-url"] == "/dashboard?range=7d&brand=brand-sushi"


@pytest.mark.parametrize(
    "params",
    [
        {"range": "forever"},
        {"range": "custom", "from": "2026-02-30"},
        {"range": "custom", "from": "2026-03-05", "to": "2026-03-01"},
    ],
)
async def test_bad_filters_are_a_readable_400(
    client: httpx.AsyncClient, manager: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await manager.get("/dashboard/panels", params=params)
    assert response.status_code == 400
    assert 'class="filter-error"' in response.text


async def test_unknown_csv_table_is_a_400(client: httpx.AsyncClient, manager: httpx.AsyncClient) -> None:
    assert (await manager.get("/dashboard/csv/everything")).status_code == 400


async def test_empty_range_shows_zeros_not_errors(client: httpx.AsyncClient, manager: httpx.AsyncClient) -> None:
    page = await manager.get("/dashboard", params={"range": "yesterday"})
    assert page.status_code == 200
    assert re.search(r'<span class="value">0</span><span class="label">orders received', page.text)


async def test_dashboard_hears_order_changes(app: Litestar, client: httpx.AsyncClient) -> None:
    hub: BoardHub = app.state.board_hub
    async with asyncio.timeout(10):
        await hub.wait_listening()
    changes = hub.changes()
    waiting = asyncio.ensure_future(anext(changes))
    await asyncio.sleep(0.05)
    order = await create_order(client)
    await set_item(client, order["id"], "BB-1", "PREPARING")
    async with asyncio.timeout(5):
        await waiting
    await changes.aclose()


FORMULAS = ['=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(1+1)", "|calc"]


async def test_csv_cells_never_start_a_formula_and_a_carriage_return_cannot_split_a_row(
    client: httpx.AsyncClient, manager: httpx.AsyncClient, clock: FakeClock
) -> None:
    for formula in FORMULAS:
        order = await create_order(
            client,
            account=formula,
            customer={"name": f"{formula}\rsecond line"},
            items=[{"plu": formula, "name": formula, "quantity": 1}],
        )
        clock.advance(30)
        for status in ("PREPARING", "READY"):
            assert (await set_item(client, order["id"], quote(formula, safe=""), status)).status_code == 200

    for table, columns in (("top-customers", ("account", "name")), ("items", ("plu", "name"))):
        text = (await manager.get(f"/dashboard/csv/{table}", params={"range": "today"})).text
        # Read as a spreadsheet reads it: the csv module with universal newlines turned off.
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        assert len(rows) == len(FORMULAS), table
        for row in rows:
            for column in columns:
                cell = row[column]
                assert not cell.startswith(("=", "+", "-", "@", "|", "\t", "\r")), (table, cell)
                assert cell.startswith("'"), (table, cell)
        if table == "top-customers":
            assert {row["name"] for row in rows} == {f"'{f}\rsecond line" for f in FORMULAS}
