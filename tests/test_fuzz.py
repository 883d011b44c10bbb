"""Schemathesis against the app's own OpenAPI schema: whatever a client sends, no 5xx, and every
answer (status code, content type, headers, body) is one the schema documents.

Bounded and deterministic: a fixed number of examples per operation, derandomized, so a failure
reproduces on the next run. Runs on whichever database the suite runs on.
"""

from __future__ import annotations

from collections.abc import Iterator

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
