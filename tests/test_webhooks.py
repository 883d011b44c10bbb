"""Channels hear back: signed status webhooks from the outbox, against a real HTTP receiver.

Real app processes on the real clock, a real receiver on 127.0.0.1 (tests/webhook_receiver.py),
and the outbox checked in SQL: nothing lost, nothing out of order per order, ids stable.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from kitchen.settings import PROJECT_ROOT
from kitchen.webhooks.service import WebhookService
from kitchen.webhooks.signing import signature, verify
from tests.helpers import live_order_payload, pickup_in
from tests.live_server import LiveServer, new_api_key, run_with_database, wipe_database
from tests.webhook_receiver import Receiver

FAST = {
    "KITCHEN_WEBHOOK_RETRY_SECONDS": "0.2",
    "KITCHEN_WEBHOOK_RETRY_MAX_SECONDS": "0.5",
    "KITCHEN_WEBHOOK_TIMEOUT_SECONDS": "2",
    "KITCHEN_WEBHOOK_LATE_SECONDS": "0.5",
}
INTEGRATION = "live-test"  # the API key tests.live_server.new_api_key makes


def set_webhook(url: str, integration: str, target: str) -> str:
    async def work(session: AsyncSession) -> str:
        return await WebhookService(session).set(integration, target)

    return run_with_database(url, work)


def outbox(url: str) -> list[tuple[Any, ...]]:
    async def read() -> list[tuple[Any, ...]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT event_id, type, stream, attempts, delivered_at, dead_at FROM outbox_events ORDER BY id"
                    )
                )
                return [tuple(row) for row in rows]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def eventually(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("not within the time")


class Kitchen:
    def __init__(self, database_url: str, receiver: Receiver) -> None:
        self.database_url = database_url
        self.receiver = receiver
        wipe_database(database_url)
        self.api_key = new_api_key(database_url)
        self.secret = set_webhook(database_url, INTEGRATION, receiver.url)
        self.servers: list[LiveServer] = []

    def server(self, name: str = "webhooks") -> LiveServer:
        server = LiveServer(self.database_url, name=name, env=FAST).start()
        server.api_key = self.api_key
        self.servers.append(server)
        return server

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.receiver.stop()


@pytest.fixture
def kitchen(database_url: str) -> Iterator[Kitchen]:
    made = Kitchen(database_url, Receiver().start())
    yield made
    made.stop()


def post(server: LiveServer, **overrides: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/api/orders", json=live_order_payload(**overrides), headers=server.api)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def move(server: LiveServer, order_id: str, status: str) -> None:
    response = httpx.patch(f"{server.url}/api/orders/{order_id}/status", json={"status": status}, headers=server.api)
    assert response.status_code == 200, response.text


def types_by_order(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for event in events:
        seen.setdefault(event["order"]["id"], []).append(event["type"])
    return seen


LIFE = ["order.received", "order.preparing", "order.ready", "order.picked_up"]


def test_every_status_change_arrives_signed_in_order_with_a_stable_id(kitchen: Kitchen) -> None:
    server = kitchen.server()
    order = post(server)
    for status in ("PREPARING", "READY", "PICKED_UP"):
        move(server, order["id"], status)

    eventually(lambda: len(kitchen.receiver.received) == 4)
    assert [e["type"] for e in kitchen.receiver.events()] == LIFE
    for got in kitchen.receiver.received:
        assert verify(kitchen.secret, got.headers["kitchen-signature"], got.body)
        assert not verify("whsec_another", got.headers["kitchen-signature"], got.body)
        assert got.headers["kitchen-event-id"] == got.event["id"]
        assert got.event["order"] == {
            "id": order["id"],
            "brandId": order["brandId"],
            "channelOrderId": order["channelOrderId"],
            "status": got.event["type"].removeprefix("order.").upper(),
            "pickupTime": order["pickupTime"],
        }
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", got.event["occurredAt"]
        )
    stored = outbox(kitchen.database_url)
    assert [row[0] for row in stored] == [e["id"] for e in kitchen.receiver.events()]
    assert all(row[4] is not None and row[3] == 1 for row in stored), "each delivered at its first try"


def test_a_refused_change_writes_no_event(kitchen: Kitchen) -> None:
    server = kitchen.server()
    order = post(server)
    refused = httpx.patch(
        f"{server.url}/api/orders/{order['id']}/status", json={"status": "PICKED_UP"}, headers=server.api
    )
    assert refused.status_code == 409
    eventually(lambda: len(kitchen.receiver.received) == 1)
    time.sleep(0.5)
    assert [row[1] for row in outbox(kitchen.database_url)] == ["order.received"]


def test_failures_and_an_outage_end_in_everything_delivered_in_order(kitchen: Kitchen) -> None:
    server = kitchen.server()
    kitchen.receiver.failures = 5  # 500 five times first
    orders = [post(server) for _ in range(4)]
    for order in orders:
        move(server, order["id"], "PREPARING")
    kitchen.receiver.stop()  # the receiver goes away for a while
    for order in orders:
        move(server, order["id"], "READY")
        move(server, order["id"], "PICKED_UP")
    time.sleep(1.5)  # retries meanwhile fail: connection refused
    kitchen.receiver.start()

    eventually(lambda: len(kitchen.receiver.received) == 16, seconds=30)
    by_order = types_by_order(kitchen.receiver.events())
    assert by_order == {order["id"]: LIFE for order in orders}
    stored = outbox(kitchen.database_url)
    assert all(row[4] is not None and row[5] is None for row in stored), "all delivered, none dead"
    assert max(row[3] for row in stored) > 1, "some took retries"
    assert kitchen.receiver.refused == 5
    assert len({e["id"] for e in kitchen.receiver.events()}) == 16


def test_two_processes_deliver_each_event_once_between_them(kitchen: Kitchen) -> None:
    first, second = kitchen.server("webhooks-1"), kitchen.server("webhooks-2")
    orders = [post(first if n % 2 else second) for n in range(20)]
    for n, order in enumerate(orders):
        for status in ("PREPARING", "READY"):
            move(second if n % 2 else first, order["id"], status)

    eventually(lambda: len(kitchen.receiver.received) >= 60, seconds=30)
    time.sleep(1.5)  # anything doubled would arrive by now
    ids = [e["id"] for e in kitchen.receiver.events()]
    assert len(ids) == 60
    assert len(set(ids)) == 60, "no event twice"
    assert types_by_order(kitchen.receiver.events()) == {
        order["id"]: ["order.received", "order.preparing", "order.ready"] for order in orders
    }


def test_a_crash_between_commit_and_delivery_loses_nothing(kitchen: Kitchen) -> None:
    kitchen.receiver.stop()  # nobody answers: the event stays in the outbox
    server = kitchen.server("crashing")
    order = post(server)
    move(server, order["id"], "PREPARING")
    server.kill()  # the process dies with two events undelivered
    assert [row[4] for row in outbox(kitchen.database_url)] == [None, None]
    kitchen.receiver.start()
    kitchen.server("restarted")  # reads the outbox again when it starts

    eventually(lambda: len(kitchen.receiver.received) == 2)
    assert [e["type"] for e in kitchen.receiver.events()] == ["order.received", "order.preparing"]


def test_an_order_that_becomes_late_is_told_once(kitchen: Kitchen) -> None:
    server = kitchen.server()
    order = post(server, pickupTime=pickup_in(1 / 60))  # a second from now
    eventually(lambda: "order.late" in [e["type"] for e in kitchen.receiver.events()], seconds=10)
    time.sleep(1.5)  # two more looks of the watch: told once only
    assert [e["type"] for e in kitchen.receiver.events()] == ["order.received", "order.late"]
    assert kitchen.receiver.events()[1]["order"]["id"] == order["id"]


def test_the_readme_snippet_verifies_a_signature() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    snippet = re.search(r"```python\n(# verify a kitchen webhook.*?)```", readme, re.S)
    assert snippet is not None, "the README shows how to verify a signature"
    scope: dict[str, Any] = {}
    exec(snippet.group(1), scope)  # our own README's code, run as a receiver would
    body = b'{"id":"e1","type":"order.ready"}'
    header = signature("whsec_test", int(time.time()), body)
    assert scope["is_from_kitchen"]("whsec_test", header, body)
    assert not scope["is_from_kitchen"]("whsec_test", header, body + b" ")
    stale = signature("whsec_test", int(time.time()) - 3600, body)
    assert not scope["is_from_kitchen"]("whsec_test", stale, body)


def test_the_command_line_sets_lists_retries_and_disables_a_webhook(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from kitchen.webhooks.cli import webhooks_group

    wipe_database(database_url)
    new_api_key(database_url, "wolt")
    monkeypatch.setenv("KITCHEN_DATABASE_URL", database_url)
    runner = CliRunner()

    made = runner.invoke(webhooks_group, ["set", "wolt", "https://wolt.example/hooks", "--brand", "brand-sushi"])
    assert made.exit_code == 0, made.output
    assert re.search(r"^whsec_[\w-]{40,}$", made.output.splitlines()[-1])
    listed = runner.invoke(webhooks_group, ["list"])
    assert "wolt\thttps://wolt.example/hooks\tenabled\tdelivered 0\tpending 0" in listed.output
    assert "brands brand-sushi" in listed.output
    assert runner.invoke(webhooks_group, ["retry", "wolt"]).output.startswith("0 dead events")
    assert runner.invoke(webhooks_group, ["disable", "wolt"]).exit_code == 0
    assert "\tdisabled\t" in runner.invoke(webhooks_group, ["list"]).output
    for refused in (["set", "nobody", "https://x.example/"], ["set", "wolt", "ftp://x"], ["disable", "nobody"]):
        answer = runner.invoke(webhooks_group, refused)
        assert answer.exit_code == 1, (refused, answer.output)


@pytest.mark.anyio
async def test_a_manager_sets_a_webhook_on_the_manage_page_and_sees_how_it_does(
    manager: httpx.AsyncClient, client: httpx.AsyncClient, engine: Any
) -> None:
    page = (await manager.get("/manage")).text
    assert "No webhooks yet." in page
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page)
    assert token is not None
    form = {"_csrf_token": token[1], "integration": "test-channel", "url": "http://127.0.0.1:9/hooks"}
    made = await manager.post("/manage/webhooks", data={**form, "brands": "brand-sushi, brand-burgers"})
    assert made.status_code == 200, made.text
    secret = re.search(r"shown only now: <code class=\"code\">(whsec_[\w-]+)</code>", made.text)
    assert secret is not None
    assert "+ brand-burgers, brand-sushi" in made.text
    assert secret[1] not in (await manager.get("/manage")).text, "the secret is shown once"
    refused = await manager.post("/manage/webhooks", data={**form, "url": "javascript:alert(1)"})
    assert refused.status_code == 400
    async with engine.connect() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM webhooks"))
        webhook_id = await conn.scalar(text("SELECT id FROM webhooks"))
    assert count == 1
    disabled = await manager.post(f"/manage/webhooks/{webhook_id}/disable", data={"_csrf_token": token[1]})
    assert disabled.status_code in (302, 303)
    assert "(disabled)" in (await manager.get("/manage")).text
    assert (
        await manager.post("/manage/webhooks/99999999999999999999/retry", data={"_csrf_token": token[1]})
    ).status_code in (302, 303, 404)


@pytest.mark.anyio
async def test_a_brand_turning_busy_and_normal_is_told_once_each_way(client: httpx.AsyncClient, app: Any) -> None:
    from kitchen.webhooks.busy import BusyTeller

    async with app.state.sessions() as session:
        await WebhookService(session).set("test-channel", "http://127.0.0.1:9/hooks")
    app.state.outbox.forget()
    teller = BusyTeller(app.state.engine, app.state.clock, app.state.outbox)

    assert not await teller.tell("brand-burgers", False, 20.0), "normal from the start: nothing to tell"
    assert await teller.tell("brand-burgers", True, 52.4)
    assert not await teller.tell("brand-burgers", True, 55.0), "told already (here or by another process)"
    assert await teller.tell("brand-burgers", False, 30.0)

    async with app.state.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT type, stream, body FROM outbox_events ORDER BY id"))).all()
    assert [(row[0], row[1]) for row in rows] == [
        ("kitchen.busy", "brand:brand-burgers"),
        ("kitchen.normal", "brand:brand-burgers"),
    ]
    busy = json.loads(rows[0][2])
    assert busy["kitchen"] == {"brandId": "brand-burgers", "quoteMinutes": 52.4, "busy": True}
