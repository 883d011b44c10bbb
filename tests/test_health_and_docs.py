"""Probes, the OpenAPI document and Swagger UI served from this app, and a database outage."""

from __future__ import annotations

import re

import httpx
import pytest

from kitchen.app import create_app
from kitchen.settings import Settings

pytestmark = pytest.mark.anyio

# Nothing listens on port 1 of the loopback: connections are refused at once.
UNREACHABLE_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:1/kitchen"


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_database_outage_gives_503_not_a_traceback() -> None:
    app = create_app(Settings(database_url=UNREACHABLE_DATABASE, db_pool_timeout_seconds=1))
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.get("/health")).status_code == 200
        ready = await http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        response = await http.get("/api/orders/anything", headers={"Authorization": "Bearer kit_any-key"})
        assert response.status_code == 503
        assert response.json()["code"] == "database_unavailable"
        assert "Traceback" not in response.text


async def test_openapi_documents_every_operation_and_its_errors(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/api/openapi.json")).json()
    operations = {
        ("post", "/api/orders"): {"201", "409", "413", "422"},
        ("get", "/api/orders"): {"200", "400"},
        ("get", "/api/orders/{order_id}"): {"200", "404"},
        ("patch", "/api/orders/{order_id}/status"): {"200", "404", "409", "422"},
        ("patch", "/api/orders/{order_id}/items/{plu}/status"): {"200", "404", "409", "422"},
        ("patch", "/api/orders/{order_id}/lines/{line}/status"): {"200", "404", "409", "422"},
    }
    for (method, path), codes in operations.items():
        responses = schema["paths"][path][method]["responses"]
        assert codes | {"503"} <= set(responses), (method, path, sorted(responses))
    assert "ErrorBody" in schema["components"]["schemas"]


async def test_swagger_ui_loads_its_assets_from_this_app(client: httpx.AsyncClient) -> None:
    page = (await client.get("/api/docs")).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets
    assert not [a for a in assets if a.startswith(("http:", "https:", "//"))], assets
    for asset in assets:
        assert (await client.get(asset)).status_code == 200, asset
