"""Schemathesis against the app's own OpenAPI schema: whatever a client sends, no 5xx, and every
answer (status code, content type, headers, body) is one the schema documents.

Bounded and deterministic: a fixed number of examples per operation, derandomized, so a failure
reproduces on the next run. Runs on whichever database the suite runs on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from kitchen.app import create_app
from kitchen.settings import Settings
from tests.live_server import LiveServer, new_api_key, wipe_database

EXAMPLES_PER_OPERATION = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    # An operation that documents the API key must refuse a request without it.
    ignored_auth,
]
# Left out on purpose: positive_data_acceptance and negative_data_rejection guess from the schema
# alone which inputs must succeed or fail, but the status rules (names in any case, PLUs unique per
# order, a range of at most two years) go beyond what a schema says; allow_header_conformance trips
# on Litestar's own OPTIONS answer, which lists the methods of one handler, not of the path.


def documented_schema() -> OpenApiSchema:
    """The OpenAPI document the app serves; it does not depend on the database, so any URL will do."""
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", secret_key="f" * 40))
    return schemathesis.openapi.from_dict(app.openapi_schema.to_schema())


schema = documented_schema()


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[LiveServer]:
    """The app as a real server process on the suite's database, with a valid API key."""
    wipe_database(database_url)
    server = LiveServer(database_url, name="fuzz").start()
    try:
        server.api_key = new_api_key(database_url, "fuzz")
        yield server
    finally:
        server.stop()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented_and_none_is_a_server_error(case: schemathesis.Case, server: LiveServer) -> None:
    case.call_and_validate(base_url=server.url, headers=server.api, checks=CHECKS, timeout=10)


NASTY_STRINGS = ["\u0000", "a\u0000b", "\r\n", "%00", "../../etc/passwd", "=cmd|' /C calc'!A0", "\ue000", "x" * 5000]
NASTY_TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z", "99999-01-01"]
NASTY_NUMBERS = [9223372036854775808, -9223372036854775809, 10**400, 1e308, -1]
DEEP = "[" * 3000 + "]" * 3000
JSON = {"content-type": "application/json"}


def nasty_bodies() -> list[bytes]:
    """Bodies no schema example would try: deep nesting, NUL, extreme times, huge integers."""
    bodies = [DEEP.encode(), ('{"status": ' + DEEP + "}").encode(), b'{"status": NaN}', b"\x00", b"\xff\xfe"]
    for value in [*NASTY_STRINGS, *NASTY_TIMES, *NASTY_NUMBERS]:
        encoded = json.dumps(value)
        for field in ("status", "pickupTime", "brandId", "name", "colour", "items"):
            bodies.append(f'{{"{field}": {encoded}}}'.encode())
    return bodies


def nasty_paths() -> list[str]:
    """Every documented path with each parameter replaced by a hostile value, percent-encoded."""
    values = [quote(v, safe="") for v in [*NASTY_STRINGS, *NASTY_TIMES, "9223372036854775808"]]
    return [re.sub(r"\{[^}]+\}", value, path) for path in schema.raw_schema["paths"] for value in values]


def test_no_hostile_bytes_get_a_server_error(server: LiveServer) -> None:
    """Beyond the schema's own examples: whatever the bytes, never a 5xx (and never a hang)."""
    queries = [
        f"{name}={quote(value, safe='')}"
        for name in ("from", "to", "brandId", "status", "offset", "limit", "account")
        for value in [*NASTY_STRINGS, *NASTY_TIMES, "9223372036854775808", "1e999"]
    ]
    failures = []
    with httpx.Client(base_url=server.url, headers=server.api, timeout=10) as http:
        for path in nasty_paths():
            for method in ("GET", "PATCH", "PUT", "POST"):
                response = http.request(
                    method, path, content=b'{"status": 1}', headers={"content-type": "application/json"}
                )
                if response.status_code >= 500:
                    failures.append(f"{method} {path}: {response.status_code}")
        for path in ("/api/orders", "/api/analytics/on-time", "/api/analytics/items", "/dashboard/panels"):
            for query in queries:
                response = http.get(f"{path}?{query}")
                if response.status_code >= 500:
                    failures.append(f"GET {path}?{query}: {response.status_code}")
        for path in ("/api/orders", "/api/orders/o1/status", "/api/orders/o1/items/p1/status", "/api/brands/b1"):
            method = "POST" if path == "/api/orders" else "PUT" if "brands" in path else "PATCH"
            for body in nasty_bodies():
                response = http.request(method, path, content=body, headers=JSON)
                if response.status_code >= 500:
                    failures.append(f"{method} {path} {body[:40]!r}: {response.status_code}")
    assert failures == []
