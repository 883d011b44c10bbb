"""The kitchen's load and prep-time quotes, against a scripted kitchen (kitchen/load/).

The clock starts at 10:00 UTC. Burger Bros' menu routes the burger to the grill (8 min) and the
fries to the fryer (4 min); packing takes the default 2 minutes. A brand is busy over 20 minutes
in this module.

The scripted kitchen at 10:12 (`scripted_kitchen`):
- order A (pickup 10:30): its burger cooked 10:00-10:07 (420 s) and its fries 10:07-10:10 (180 s),
  each on its own: the measured prep times;
- order B (10:10, pickup 10:40): burger and fries, both ORDERED;
- order C (10:10, pickup 10:35): its burger PREPARING since 10:10, its fries ORDERED.
One line at a time on each station in the last hour: one cook each.
Grill work: B's burger 420 + what is left of C's, 420 - 120 = 300: 720 s. Fryer: 180 + 180 = 360 s.
The typical order (three orders of two lines, both PLUs in all three): a burger and fries.
Quote: grill 720 / 1 + 420 = 1,140 s; fryer 360 / 1 + 180 = 540 s; 1,140 + 120 packing = 1,260 s = 21 min.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select

from kitchen.load.models import KitchenQuote
from kitchen.load.service import LoadWatch
from kitchen.settings import Settings
from tests.conftest import FakeClock
from tests.helpers import create_order, set_order
from tests.test_station_analytics import line_steps
from tests.test_stations import MENU

pytestmark = pytest.mark.anyio

BURGER_AND_FRIES = [
    {"plu": "BB-1", "name": "Hawaii Burger", "quantity": 1},
    {"plu": "BB-2", "name": "Fries", "quantity": 1},
]
DAY = {"from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00Z"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, secret_key="test-secret-" + "k" * 40, busy_quote_minutes=20)


def watch(app: Litestar) -> LoadWatch:
    found: LoadWatch = app.state.load_watch
    return found


class BusyHook:
    """Records every call of `on_busy_change`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool, float]] = []

    async def __call__(self, brand_id: str, busy: bool, quote_minutes: float) -> None:
        self.calls.append((brand_id, busy, quote_minutes))


async def burger_bros(client: httpx.AsyncClient) -> None:
    assert (await client.put("/api/brands/brand-burgers", json={"name": "Burger Bros", "colour": "#e4572e"})).is_success
    assert (await client.put("/api/brands/brand-burgers/menu", json=MENU)).status_code == 200


async def scripted_kitchen(client: httpx.AsyncClient, clock: FakeClock) -> dict[str, str]:
    """The kitchen of the module's docstring, at 10:12."""
    await burger_bros(client)
    a = await create_order(client, pickupTime="2026-03-02T10:30:00Z", items=BURGER_AND_FRIES)
    await line_steps(
        client, clock, a["id"], (0, 1, "PREPARING"), (420, 1, "READY"), (0, 2, "PREPARING"), (180, 2, "READY")
    )
    b = await create_order(client, pickupTime="2026-03-02T10:40:00Z", items=BURGER_AND_FRIES)
    c = await create_order(client, pickupTime="2026-03-02T10:35:00Z", items=BURGER_AND_FRIES)
    await line_steps(client, clock, c["id"], (0, 1, "PREPARING"))
    clock.advance(120)
    return {"a": a["id"], "b": b["id"], "c": c["id"]}


async def kitchen_load(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/kitchen/load")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_load_endpoint_gives_each_stations_open_work_and_lateness(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await scripted_kitchen(client, clock)
    load = await kitchen_load(client)
    assert load["at"] == "2026-03-02T10:12:00Z"
    assert load["stations"] == [
        # B's fries start by 10:34 (22 min ahead), C's by 10:29 (17 min ahead): median 19.5 min ahead.
        {"station": "fryer", "openLines": 2, "workSeconds": 360.0, "cooks": 1, "behindMedianMinutes": -19.5},
        # B's burger starts by 10:30; C's is on already.
        {"station": "grill", "openLines": 2, "workSeconds": 720.0, "cooks": 1, "behindMedianMinutes": -18.0},
    ]


async def test_the_quote_of_a_typical_order_counts_measured_prep_backlog_and_packing(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await scripted_kitchen(client, clock)
    [brand] = (await kitchen_load(client))["brands"]
    assert brand == {
        "brandId": "brand-burgers",
        "name": "Burger Bros",
        "quoteMinutes": 21.0,
        "busy": True,  # over this module's 20 minutes
        "typicalOrder": [
            {
                "plu": "BB-1",
                "name": "Hawaii Burger",
                "station": "grill",
                "prepSeconds": 420.0,
                "prepSource": "measured",
                "prepSamples": 1,
            },
            {
                "plu": "BB-2",
                "name": "Fries",
                "station": "fryer",
                "prepSeconds": 180.0,
                "prepSource": "measured",
                "prepSamples": 1,
            },
        ],
    }


async def test_a_bumped_line_is_not_a_measured_prep_time(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await burger_bros(client)
    order = await create_order(client, pickupTime="2026-03-02T10:30:00Z", items=BURGER_AND_FRIES)
    assert (await set_order(client, order["id"], "PREPARING")).status_code == 200
    clock.advance(60)
    assert (await set_order(client, order["id"], "READY")).status_code == 200  # the bump: 60 s says nothing
    [brand] = (await kitchen_load(client))["brands"]
    assert [(line["prepSeconds"], line["prepSource"]) for line in brand["typicalOrder"]] == [
        (480.0, "menu"),
        (240.0, "menu"),
    ]
    assert brand["quoteMinutes"] == 10.0  # an idle kitchen: the burger's 8 min, then 2 min packing


async def test_a_brand_without_orders_is_quoted_its_menus_slowest_line_per_station(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    menu = [
        {"plu": "SU-1", "name": "Maki", "station": "sushi", "prepSeconds": 600},
        {"plu": "SU-2", "name": "Nigiri", "station": "sushi", "prepSeconds": 300},
        {"plu": "SU-3", "name": "Miso", "station": "soup"},
    ]
    assert (await client.put("/api/brands/brand-sushi/menu", json=menu)).status_code == 200
    [brand] = (await kitchen_load(client))["brands"]
    assert [(line["plu"], line["prepSource"]) for line in brand["typicalOrder"]] == [
        ("SU-1", "menu"),
        ("SU-3", "default"),  # no prep time on the menu: 5 min
    ]
    assert (brand["name"], brand["quoteMinutes"], brand["busy"]) == ("brand-sushi", 12.0, False)  # 10 + 2


async def test_the_busy_flag_is_announced_once_when_it_flips_and_once_when_it_flips_back(
    app: Litestar, client: httpx.AsyncClient, clock: FakeClock, engine: Any
) -> None:
    orders = await scripted_kitchen(client, clock)
    hook = BusyHook()
    watch(app).on_busy_change = hook
    await watch(app).look()
    assert hook.calls == [("brand-burgers", True, 21.0)]
    assert watch(app).busy == {"brand-burgers": True}

    clock.advance(30)  # C's burger has 90 s left: grill 690 s, quote 20.5 min, still busy
    await watch(app).look()
    assert hook.calls == [("brand-burgers", True, 21.0)]

    clock.advance(30)  # 10:13: C's burger is done after 180 s; the burger's median is now 300 s
    await line_steps(client, clock, orders["c"], (0, 1, "READY"))
    await watch(app).look()  # grill 300 + 300, fryer 360 + 180: 600 + 120 = 12 min
    assert hook.calls == [("brand-burgers", True, 21.0), ("brand-burgers", False, 12.0)]

    clock.advance(30)
    await watch(app).look()
    assert len(hook.calls) == 2
    async with app.state.sessions() as session:
        quotes = (await session.scalars(select(KitchenQuote).order_by(KitchenQuote.at))).all()
    assert [(q.at.strftime("%H:%M:%S"), q.minutes, q.busy) for q in quotes] == [
        ("10:12:00", 21.0, True),
        ("10:12:30", 20.5, True),
        ("10:13:00", 12.0, False),
        ("10:13:30", 12.0, False),
    ]


async def test_a_quote_hovering_just_under_the_threshold_does_not_flip_a_busy_brand_back(
    app: Litestar, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    orders = await scripted_kitchen(client, clock)
    hook = BusyHook()
    watch(app).on_busy_change = hook
    watch(app).rules = replace(watch(app).rules, busy_quote_minutes=20.8)
    await watch(app).look()  # 21.0 min: over 20.8, busy
    clock.advance(30)
    await watch(app).look()  # 20.5 min: under 20.8, but not under 80 % of it (16.6): still busy
    assert watch(app).busy == {"brand-burgers": True}
    assert hook.calls == [("brand-burgers", True, 21.0)]
    clock.advance(30)
    await line_steps(client, clock, orders["c"], (0, 1, "READY"))
    await watch(app).look()  # 12.0 min: normal again
    assert hook.calls == [("brand-burgers", True, 21.0), ("brand-burgers", False, 12.0)]


async def test_a_second_process_in_the_same_turn_records_and_announces_nothing(
    app: Litestar, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await scripted_kitchen(client, clock)
    first, second = BusyHook(), BusyHook()
    watch(app).on_busy_change = first
    await watch(app).look()
    other_process = LoadWatch(app.state.sessions, clock, watch(app).rules, on_busy_change=second)
    clock.advance(5)
    await other_process.look()
    assert (first.calls, second.calls) == ([("brand-burgers", True, 21.0)], [])
    async with app.state.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(KitchenQuote)) == 1


async def record_quote(app: Litestar, brand_id: str, at: datetime, minutes: float) -> None:
    async with app.state.sessions() as session:
        session.add(KitchenQuote(brand_id=brand_id, at=at, minutes=minutes, busy=False))
        await session.commit()


async def scripted_actuals(app: Litestar, client: httpx.AsyncClient, clock: FakeClock) -> None:
    """Quotes and orders whose errors (actual - quoted) are known:
    X +2, Y -3, V +5 (burgers), S -5 (sushi); Z never ready; L's quote was 6 min old."""
    await record_quote(app, "brand-burgers", datetime(2026, 3, 2, 10, 0, tzinfo=UTC), 10.0)
    await record_quote(app, "brand-sushi", datetime(2026, 3, 2, 10, 0, tzinfo=UTC), 15.0)
    await record_quote(app, "brand-burgers", datetime(2026, 3, 2, 10, 4, tzinfo=UTC), 20.0)
    burger = [BURGER_AND_FRIES[0]]
    maki = [{"plu": "SU-1", "name": "Maki", "quantity": 1}]
    ids: dict[str, str] = {}

    async def at(minute: int, action: str, name: str, **payload: Any) -> None:
        clock.now = datetime(2026, 3, 2, 10, minute, tzinfo=UTC)
        if action == "create":
            ids[name] = (await create_order(client, pickupTime="2026-03-02T11:00:00Z", **payload))["id"]
        else:
            assert (await set_order(client, ids[name], "READY")).status_code == 200

    await at(1, "create", "X", items=burger)  # quoted 10 (10:00), ready 10:13 after 12: +2
    await at(2, "create", "Y", items=burger)  # quoted 10, ready 10:09 after 7: -3
    await at(5, "create", "V", items=burger)  # quoted 20 (10:04), ready 10:30 after 25: +5
    await at(5, "create", "S", brandId="brand-sushi", items=maki)  # quoted 15, ready 10:15 after 10: -5
    await at(6, "create", "Z", items=burger)  # never ready: not counted
    await at(9, "ready", "Y")
    await at(10, "create", "L", items=burger)  # the latest quote is 6 min old: not counted
    await at(13, "ready", "X")
    await at(15, "ready", "S")
    await at(20, "ready", "L")
    await at(30, "ready", "V")


async def test_quote_accuracy_is_actual_less_quoted_over_the_ranges_ready_orders(
    app: Litestar, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await scripted_actuals(app, client, clock)
    response = await client.get("/api/analytics/quote-accuracy", params=DAY)
    assert response.status_code == 200, response.text
    # |errors| 2, 3, 5, 5: median 4, p90 5; signed -5, -3, 2, 5: median -0.5.
    assert response.json() == {
        "orders": 4,
        "medianAbsErrorMinutes": 4.0,
        "p90AbsErrorMinutes": 5.0,
        "medianErrorMinutes": -0.5,
    }
    burgers = (await client.get("/api/analytics/quote-accuracy", params={**DAY, "brandId": "brand-burgers"})).json()
    # |errors| 2, 3, 5: median 3, p90 at rank 1.8: 3 + 0.8 * 2 = 4.6; signed -3, 2, 5: median 2.
    assert burgers == {"orders": 3, "medianAbsErrorMinutes": 3.0, "p90AbsErrorMinutes": 4.6, "medianErrorMinutes": 2.0}


async def test_no_quotes_is_no_accuracy(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/analytics/quote-accuracy", params=DAY)
    assert response.json() == {
        "orders": 0,
        "medianAbsErrorMinutes": None,
        "p90AbsErrorMinutes": None,
        "medianErrorMinutes": None,
    }


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"from": "2026-03-03T00:00:00Z", "to": "2026-03-02T00:00:00Z"},
        {"from": "1999-12-31T00:00:00Z"},
        {"brandId": "b" * 65},
    ],
)
async def test_bad_accuracy_parameters_are_a_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await client.get("/api/analytics/quote-accuracy", params=params)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("path", ["/api/kitchen/load", "/api/analytics/quote-accuracy"])
async def test_the_load_and_its_accuracy_need_an_api_key(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_the_dashboard_loads_the_kitchen_load_panel_after_the_page(
    client: httpx.AsyncClient, manager: httpx.AsyncClient, clock: FakeClock
) -> None:
    await scripted_kitchen(client, clock)
    panels = (await manager.get("/dashboard/panels", params={"range": "today"})).text
    assert 'hx-get="/dashboard/load?range=today" hx-trigger="load"' in panels
    response = await manager.get("/dashboard/load", params={"range": "today"})
    assert response.status_code == 200, response.text
    panel = " ".join(response.text.split())
    assert "<td>grill</td><td>2</td><td>12.0 min</td><td>1</td><td>18.0 min ahead</td>" in panel
    assert '<tr class="busy"><td>Burger Bros</td><td>21.0 min</td><td><strong>BUSY</strong></td>' in panel
    assert "orders ready that had a quote when they came in</th><td>0</td>" in panel


async def test_the_dashboard_shows_the_quotes_accuracy_over_its_range(
    app: Litestar, client: httpx.AsyncClient, manager: httpx.AsyncClient, clock: FakeClock
) -> None:
    await scripted_actuals(app, client, clock)
    panel = " ".join((await manager.get("/dashboard/load", params={"range": "today"})).text.split())
    assert "orders ready that had a quote when they came in</th><td>4</td>" in panel
    assert "error, median (actual less quoted, either way)</th><td>4.0 min</td>" in panel
    assert "error, 90th percentile</th><td>5.0 min</td>" in panel


async def test_the_dashboard_load_panel_refuses_a_bad_range_readably(manager: httpx.AsyncClient) -> None:
    response = await manager.get("/dashboard/load", params={"range": "fortnight"})
    assert response.status_code == 400
    assert "Cannot show that" in response.text


async def test_the_load_is_described_in_openapi(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/api/openapi.json")).json()
    assert schema["paths"]["/api/kitchen/load"]["get"]["tags"] == ["kitchen load"]
    assert "quoteMinutes" in schema["components"]["schemas"]["BrandQuoteView"]["properties"]
