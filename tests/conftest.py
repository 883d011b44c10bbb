"""Fixtures: a real database (SQLite file, or a throwaway PostgreSQL database), the app, a client.

Set KITCHEN_TEST_DATABASE_URL to a PostgreSQL server URL to run the suite there; a server
that cannot be reached fails the run loudly instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kitchen.app import create_app
from kitchen.auth.guards import CSRF_COOKIE, session_cookies
from kitchen.auth.service import Credentials, Principal
from kitchen.settings import PROJECT_ROOT, Settings

TEST_DATABASE_ENV = "KITCHEN_TEST_DATABASE_URL"
TABLES = (
    "outbox_events",
    "webhooks",
    "late_orders",
    "brand_busy",
    "brand_quiet",
    "board_taps",
    "item_status_events",
    "order_status_events",
    "order_items",
    "orders",
    "brands",
    "menu_items",
    "quiet_mutes",
    "kitchen_quotes",
    "analytics_samples",
    "analytics_histograms",
    "analytics_quarter_hours",
    "analytics_customers",
    "pairing_codes",
    "browser_sessions",
    "failed_attempts",
    "tablets",
    "managers",
    "api_keys",
)
TEST_API_KEY_NAME = "test-channel"
MANAGER = ("manager", "correct horse battery")

# The channels' example payload, dated on the test clock's day (times must lie near the server's).
EXAMPLE_ORDER: dict[str, Any] = {
    "_id": "60f87ea2a52dad8a3fa4860",
    "created": "2026-03-02T09:48:02Z",
    "account": "60bfc6dc4887c9851d5a0246",
    "brandId": "60bfc6dc4887c9851d5a0245",
    "channelOrderId": "TEST1626898082",
    "customer": {"name": "John Doe", "phoneNumber": "+123456789"},
    "deliveryAddress": {"city": "Helsinki", "street": "Huuvatie 1", "postalCode": "00100"},
    "pickupTime": "2026-03-02T10:08:02Z",
    "items": [
        {"name": "Hawaii Burger", "plu": "CAT1-0001", "quantity": 1},
        {"name": "Sushi Set Large", "plu": "CAT2-0001", "quantity": 1},
    ],
    "status": 1,
    "statusHistory": [
        {"status": 4, "timestamp": "2026-03-02T09:48:02Z"},
        {"status": 1, "timestamp": "2026-03-02T09:50:00Z"},
    ],
}


class FakeClock:
    """A clock the test moves by hand, so every recorded timestamp is known exactly."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def migrate(url: str, revision: str = "head", *, down: bool = False) -> None:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    if down:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


async def _run_admin(server_url: str, statement: str) -> None:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def create_throwaway_database(server_url: str) -> str:
    """Create an empty database on the server of `server_url`; return its URL."""
    name = f"kitchen_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_run_admin(server_url, f'CREATE DATABASE "{name}"'))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    asyncio.run(_run_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def server_url() -> str | None:
    """The PostgreSQL server to test against, or None for SQLite."""
    return os.environ.get(TEST_DATABASE_ENV) or None


@pytest.fixture(scope="session")
def database_url(server_url: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated database for the whole run; each test starts from empty tables."""
    if server_url is None:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'kitchen-test.sqlite3'}"
        migrate(url)
        yield url
        return
    url = create_throwaway_database(server_url)
    try:
        migrate(url)
        yield url
    finally:
        drop_database(server_url, url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, secret_key="test-secret-" + "k" * 40)


@pytest.fixture
def app(settings: Settings, clock: FakeClock) -> Litestar:
    return create_app(settings, clock=clock)


async def wipe(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in TABLES:
                await conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An integration: the JSON API with a valid API key."""
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        await wipe(app.state.engine)
        async with app.state.sessions() as session:
            _, key = await Credentials(session).create_api_key(TEST_API_KEY_NAME)
        http.headers["Authorization"] = f"Bearer {key}"
        yield http


async def browser_client(app: Litestar, principal: Principal, first_page: str) -> httpx.AsyncClient:
    """A signed-in browser: the session cookie, and the CSRF token a page would carry."""
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    async with app.state.sessions() as session:
        token, _ = await Credentials(session).open_session(principal)
    for name, value in session_cookies(token, app.state.settings.secret_key).items():
        http.cookies.set(name, value)
    page = await http.get(first_page)
    assert page.status_code == 200, page.text
    http.headers["x-csrftoken"] = http.cookies[CSRF_COOKIE]
    return http


@pytest.fixture
async def tablet(app: Litestar, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A paired kitchen tablet (after `client`, so the tables are fresh)."""
    async with app.state.sessions() as session:
        credentials = Credentials(session)
        manager = await credentials.create_manager("pairing-manager", "a long enough password")
        code, _ = await credentials.create_pairing_code(Principal("manager", manager.id, manager.username))
        principal = await credentials.pair_tablet(code, "Grill tablet")
    assert principal is not None
    http = await browser_client(app, principal, "/board")
    yield http
    await http.aclose()


@pytest.fixture
async def manager(app: Litestar, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A signed-in manager's browser."""
    async with app.state.sessions() as session:
        record = await Credentials(session).create_manager(*MANAGER)
    http = await browser_client(app, Principal("manager", record.id, record.username), "/manage")
    yield http
    await http.aclose()


@pytest.fixture
async def engine(app: Litestar, client: httpx.AsyncClient) -> AsyncEngine:
    """The app's own engine, for assertions on what was (not) written."""
    engine: AsyncEngine = app.state.engine
    return engine
