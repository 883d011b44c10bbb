"""GET /metrics: Prometheus' text format behind its own token, with the kitchen's own counters."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from litestar import Litestar
from prometheus_client.parser import text_string_to_metric_families

from kitchen.board.live import BoardHub
from kitchen.board.station import Station
from kitchen.settings import Settings
from tests.conftest import FakeClock
from tests.helpers import create_order, set_item
from tests.test_board import next_event, tap_item

pytestmark = pytest.mark.anyio

TOKEN = "scrape-" + "t" * 30


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, secret_key="test-secret-" + "k" * 40, metrics_token=TOKEN)


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels."""
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert re.fullmatch(r"text/plain; version=[\d.]+; charset=utf-8", response.headers["content-type"])
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_need_their_token(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 401, response.text
        assert "kitchen_" not in response.text
    # The API key of an integration is not the scraper's token.
    assert (await client.get("/metrics")).status_code == 401


async def test_metrics_are_off_without_a_token(database_url: str) -> None:
    from kitchen.app import create_app

    app = create_app(Settings(database_url=database_url, secret_key="test-secret-" + "k" * 40))
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        response = await http.get("/metrics", headers={"Authorization": "Bearer "})
    assert response.status_code == 404
    assert "KITCHEN_METRICS_TOKEN" in response.text


async def test_status_changes_and_new_orders_are_counted(client: httpx.AsyncClient, tablet: httpx.AsyncClient) -> None:
    before = await scrape(client)
    order = await create_order(client)
    assert (await set_item(client, order["id"], "BB-1", "PREPARING")).status_code == 200
    await tap_item(tablet, order["id"], 2)
    await tap_item(tablet, order["id"], 2)
    after = await scrape(client)
    assert value(after, "kitchen_orders_created_total") - value(before, "kitchen_orders_created_total") == 1
    changes = "kitchen_status_changes_total"
    assert value(after, changes, source="api") - value(before, changes, source="api") == 1
    assert value(after, changes, source="board") - value(before, changes, source="board") == 2


async def test_requests_are_counted_by_route_not_by_address(client: httpx.AsyncClient) -> None:
    order = await create_order(client)
    await client.get(f"/api/orders/{order['id']}")
    await client.get("/api/orders/no-such-order")
    samples = await scrape(client)
    route = "/api/orders/{order_id}"
    found = value(samples, "kitchen_requests_total", method="GET", path=route, status_code="200", app_name="kitchen")
    missing = value(samples, "kitchen_requests_total", method="GET", path=route, status_code="404", app_name="kitchen")
    assert found >= 1
    assert missing >= 1
    latency = [k for k in samples if k[0] == "kitchen_request_duration_seconds_count" and ("path", route) in k[1]]
    assert latency, "a latency histogram per route"
    assert not any(order["id"] in dict(labels).get("path", "") for _, labels in samples)


async def test_open_board_streams_are_counted_by_station(app: Litestar, client: httpx.AsyncClient) -> None:
    hub: BoardHub = app.state.board_hub
    async with asyncio.timeout(10):
        await hub.wait_listening()
    before = value(await scrape(client), "kitchen_board_streams", station="grill")
    grill = hub.stream(Station.of(None, "grill"))
    await next_event(grill)
    assert value(await scrape(client), "kitchen_board_streams", station="grill") == before + 1
    await grill.aclose()
    assert value(await scrape(client), "kitchen_board_streams", station="grill") == before


async def test_changes_heard_and_sent_to_boards_are_counted(app: Litestar, client: httpx.AsyncClient) -> None:
    hub: BoardHub = app.state.board_hub
    async with asyncio.timeout(10):
        await hub.wait_listening()
    board = hub.stream(Station())
    try:
        await next_event(board)
        before = await scrape(client)
        await create_order(client)
        await next_event(board)  # the ticket: the hub has heard the change and sent it
        after = await scrape(client)
    finally:
        await board.aclose()
    for name, labels in (
        ("kitchen_changes_published_total", {}),
        ("kitchen_changes_heard_total", {}),
        ("kitchen_board_events_sent_total", {"event": "change"}),
    ):
        assert value(after, name, **labels) - value(before, name, **labels) >= 1, name


async def test_the_newest_order_of_each_brand_has_an_age(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await create_order(client, brandId="brand-burgers")
    clock.advance(30)
    await create_order(client, brandId="brand-sushi")
    clock.advance(60)
    samples = await scrape(client)
    assert value(samples, "kitchen_newest_order_age_seconds", brand="brand-burgers") == 90
    assert value(samples, "kitchen_newest_order_age_seconds", brand="brand-sushi") == 60


async def test_the_webhook_backlog_is_counted_per_integration(
    app: Litestar, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    from kitchen.webhooks.service import WebhookService

    async with app.state.sessions() as session:
        # Nothing listens there: the order's event stays pending (failing) while this test looks.
        await WebhookService(session).set("test-channel", "http://127.0.0.1:9/hooks")
    app.state.outbox.forget()
    samples = await scrape(client)
    assert samples[("kitchen_webhook_backlog_events", (("integration", "test-channel"),))] == 0
    await create_order(client, brandId="brand-burgers")
    clock.advance(45)
    samples = await scrape(client)
    assert value(samples, "kitchen_webhook_backlog_events", integration="test-channel") == 1
    assert value(samples, "kitchen_webhook_backlog_oldest_seconds", integration="test-channel") == 45


async def test_the_database_pool_is_described(client: httpx.AsyncClient) -> None:
    text = (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text
    assert re.search(r'^kitchen_db_pool_connections\{state="in_use"\} \d', text, re.MULTILINE), text[:2000]
    assert re.search(r"^kitchen_db_pool_size \d", text, re.MULTILINE)


async def test_requests_waiting_for_a_database_connection_are_counted(app: Litestar, client: httpx.AsyncClient) -> None:
    from prometheus_client import REGISTRY
    from sqlalchemy.ext.asyncio import create_async_engine

    from kitchen.metrics import PoolSampler

    url = app.state.settings.database_url
    if not url.startswith("postgresql"):
        pytest.skip("SQLite has no connection pool to wait for; this is the PostgreSQL leg's test")
    engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=10)
    sampler = PoolSampler(engine, 1)

    def waiting() -> float | None:
        return REGISTRY.get_sample_value("kitchen_db_pool_connections", {"state": "waiting"})

    try:
        async with engine.connect():
            second = asyncio.create_task(engine.connect().__aenter__())
            for _ in range(500):  # until the second checkout is waiting (it cannot have a connection)
                await sampler.sample()
                if waiting() == 1:
                    break
                await asyncio.sleep(0.01)
            assert waiting() == 1
            assert not second.done()
            assert REGISTRY.get_sample_value("kitchen_db_pool_connections", {"state": "in_use"}) == 1
        connection = await asyncio.wait_for(second, 5)  # the first went back: the waiter has it
        await sampler.sample()
        assert waiting() == 0
        await connection.close()
    finally:
        await engine.dispose()
