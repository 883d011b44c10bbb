"""Logs: a request id on every answer and every line, JSON lines on demand, no customer data."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest

from kitchen.logs import JsonFormatter, RequestIdFilter, TextFormatter, request_id
from kitchen.settings import Settings, SettingsError
from tests.helpers import live_order_payload
from tests.live_server import LOG_DIR, LiveServer, new_api_key, wipe_database

pytestmark = pytest.mark.anyio


async def test_a_request_keeps_the_id_it_was_sent(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "lb-7f3a.9:2"})
    assert response.headers["x-request-id"] == "lb-7f3a.9:2"


@pytest.mark.parametrize("sent", [None, "", "has space", "x" * 65, "semi;colon", 'quote"d', "<script>"])
async def test_a_request_without_a_sane_id_gets_a_new_one(client: httpx.AsyncClient, sent: str | None) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}
    first = await client.get("/health", headers=headers)
    second = await client.get("/health", headers=headers)
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_a_refused_request_has_an_id_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/orders/%00")
    assert response.status_code == 400
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def record(**extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord({"name": "kitchen.orders", "levelname": "INFO", "msg": "status change", **extra})
    token = request_id.set("req-1")
    try:
        RequestIdFilter().filter(made)
    finally:
        request_id.reset(token)
    return made


def test_a_json_line_carries_the_request_id_and_the_fields_given() -> None:
    line = json.loads(JsonFormatter().format(record(order_id="o-1", by="tablet:Grill", took_ms=3.2)))
    assert {k: line[k] for k in ("level", "logger", "message", "request_id", "order_id", "by", "took_ms")} == {
        "level": "INFO",
        "logger": "kitchen.orders",
        "message": "status change",
        "request_id": "req-1",
        "order_id": "o-1",
        "by": "tablet:Grill",
        "took_ms": 3.2,
    }


def test_a_text_line_reads_as_a_sentence_with_its_fields() -> None:
    text = TextFormatter().format(record(order_id="o-1", took_ms=3.2))
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO kitchen\.orders \[req-1\] status change order_id=o-1 took_ms=3\.2", text
    )


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(SettingsError, match="KITCHEN_LOG_FORMAT"):
        Settings(log_format="xml", secret_key="k" * 40)


def test_a_server_logs_json_lines_with_request_ids_and_no_customer_data(database_url: str) -> None:
    wipe_database(database_url)
    server = LiveServer(database_url, name="json-logs", env={"KITCHEN_LOG_FORMAT": "json", "KITCHEN_LOG_LEVEL": "INFO"})
    log_file = LOG_DIR / f"json-logs-{server.port}.log"
    log_file.unlink(missing_ok=True)
    server.start()
    try:
        api = {"Authorization": f"Bearer {new_api_key(database_url)}"}
        payload = live_order_payload()
        created = httpx.post(
            server.url + "/api/orders", json=payload, headers={**api, "X-Request-ID": "wolt-req-1"}, timeout=5
        )
        assert created.status_code == 201, created.text
        order_id = created.json()["id"]
        changed = httpx.patch(
            f"{server.url}/api/orders/{order_id}/status",
            json={"status": "PREPARING"},
            headers={**api, "X-Request-ID": "wolt-req-2"},
            timeout=5,
        )
        assert changed.status_code == 200, changed.text
    finally:
        server.stop()
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message", "request_id"} <= line.keys() for line in lines)
    received = next(line for line in lines if line["message"] == "order received")
    assert (received["request_id"], received["order_id"], received["by"]) == (
        "wolt-req-1",
        order_id,
        "api-key:live-test",
    )
    change = next(line for line in lines if line["message"] == "status change")
    assert (change["request_id"], change["order_id"], change["status"]) == ("wolt-req-2", order_id, "PREPARING")
    assert change["by"] == "api-key:live-test"
    assert isinstance(change["took_ms"], float)
    # uvicorn's own lines (start-up, access log) are JSON lines too, the access line with its request's id.
    access = [line for line in lines if line["logger"] == "uvicorn.access" and "PATCH" in line["message"]]
    assert [line["request_id"] for line in access] == ["wolt-req-2"]
    assert not any("color_message" in line for line in lines)
    text = log_file.read_text()
    for private in (
        payload["customer"]["name"],
        payload["customer"]["phoneNumber"],
        payload["deliveryAddress"]["street"],
    ):
        assert private not in text
