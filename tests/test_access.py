"""Access ends when its grant does: sign-out, unpairing and a new password end sessions at once,
streams included and across processes; CSRF tokens belong to one session; guessing is capped
over every address and every process; proxy headers are believed only from trusted proxies."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.middleware.csrf import generate_csrf_token
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.auth.guards import CSRF_COOKIE, SESSION_COOKIE, session_cookies
from kitchen.auth.service import PAIRING_GUESSES, Credentials, Principal
from tests.conftest import MANAGER
from tests.helpers import create_order
from tests.live_server import SECRET_KEY, LiveServer, new_api_key, run_with_database, wipe_database

pytestmark = pytest.mark.anyio


def cookies_of(http: httpx.AsyncClient) -> dict[str, str]:
    return {name: http.cookies[name] for name in (SESSION_COOKIE, CSRF_COOKIE)}


async def test_signing_out_ends_the_session_at_once(app: Litestar, manager: httpx.AsyncClient) -> None:
    stolen = cookies_of(manager)
    assert (await manager.post("/logout")).status_code in (302, 303)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as thief:
        for name, value in stolen.items():
            thief.cookies.set(name, value)
        page = await thief.get("/manage/", headers={"Accept": "text/html"})
        assert page.status_code == 303
        assert page.headers["location"].startswith("/login")


async def test_a_new_password_ends_every_session_of_the_manager(app: Litestar, manager: httpx.AsyncClient) -> None:
    assert (await manager.get("/manage/", headers={"Accept": "text/html"})).status_code == 200
    async with app.state.sessions() as session:
        ended = await Credentials(session).set_password(MANAGER[0], "another long password")
    assert len(ended) == 1
    assert (await manager.get("/manage/", headers={"Accept": "text/html"})).status_code == 303


async def test_an_anonymous_csrf_cookie_does_not_work_on_a_tablet(
    app: Litestar, client: httpx.AsyncClient, tablet: httpx.AsyncClient
) -> None:
    order = await create_order(client)
    anonymous = generate_csrf_token(app.state.settings.secret_key)  # what any visitor of /login gets
    tablet.cookies.set(CSRF_COOKIE, anonymous)
    refused = await tablet.post(f"/board/orders/{order['id']}/lines/1/advance", headers={"x-csrftoken": anonymous})
    assert refused.status_code == 403
    assert (await client.get(f"/api/orders/{order['id']}")).json()["items"][0]["status"] == "ORDERED"


async def _pairing_code(app: Litestar) -> str:
    async with app.state.sessions() as session:
        code, _ = await Credentials(session).create_pairing_code(Principal("manager", 0, "test"))
    return code


async def _try_code(app: Litestar, address: str, code: str) -> httpx.Response:
    """A pairing attempt from its own address, with the CSRF token its page gave it."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        await http.get("/pair")
        token = http.cookies[CSRF_COOKIE]
        return await http.post("/pair", data={"code": code, "name": "Fryer", "_csrf_token": token})


async def test_a_pairing_code_is_burnt_after_a_few_wrong_guesses_from_any_addresses(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    code = await _pairing_code(app)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for n in range(PAIRING_GUESSES):  # one guess per address: the per-address throttle never trips
        assert (await _try_code(app, f"10.0.{n}.1", wrong)).status_code == 401
    refused = await _try_code(app, "10.1.0.1", code)
    assert refused.status_code == 401, "the right code, but burnt"
    assert (await _try_code(app, "10.1.0.2", await _pairing_code(app))).status_code in (302, 303)


async def test_a_code_survives_fewer_wrong_guesses(app: Litestar, client: httpx.AsyncClient) -> None:
    code = await _pairing_code(app)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for n in range(PAIRING_GUESSES - 1):
        await _try_code(app, f"10.2.{n}.1", wrong)
    assert (await _try_code(app, "10.3.0.1", code)).status_code in (302, 303)


# --- real server processes ----------------------------------------------------------------------------


def _manager_cookies(url: str) -> dict[str, str]:
    async def work(session: AsyncSession) -> dict[str, str]:
        credentials = Credentials(session)
        manager = await credentials.create_manager("unpairing-manager", "a long enough password")
        token, _ = await credentials.open_session(Principal("manager", manager.id, manager.username))
        return session_cookies(token, SECRET_KEY)

    return run_with_database(url, work)


def _paired(url: str, name: str) -> tuple[int, dict[str, str]]:
    async def work(session: AsyncSession) -> tuple[int, dict[str, str]]:
        credentials = Credentials(session)
        code, _ = await credentials.create_pairing_code(Principal("manager", 0, "test"))
        tablet = await credentials.pair_tablet(code, name)
        assert tablet is not None
        token, _ = await credentials.open_session(tablet)
        return tablet.id, session_cookies(token, SECRET_KEY)

    return run_with_database(url, work)


@pytest.fixture
def servers(server_url: str | None, database_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two app processes on one database (on SQLite too: two processes sharing its file)."""
    wipe_database(database_url)
    first = LiveServer(database_url, name="access-first").start()
    second = LiveServer(database_url, name="access-second").start()
    first.api_key = new_api_key(database_url)
    yield first, second
    first.stop()
    second.stop()


def _stream_ends_after_unpairing(watching: LiveServer, unpairing: LiveServer) -> float:
    """Seconds from the unpairing to the end of the tablet's open stream on `watching`."""
    tablet_id, tablet = _paired(watching.database_url, "lost tablet")
    manager = _manager_cookies(watching.database_url)
    timeout = httpx.Timeout(5, read=30)
    with httpx.Client(timeout=timeout, cookies=tablet) as device, httpx.Client(timeout=5, cookies=manager) as office:
        with device.stream("GET", watching.url + "/board/stream") as stream:
            lines = stream.iter_lines()
            assert next(lines) == "event: resync"
            time.sleep(0.5)  # the second process's LISTEN connection is up after its start
            unpaired = time.monotonic()
            answer = office.post(
                f"{unpairing.url}/manage/tablets/{tablet_id}/unpair", headers={"x-csrftoken": manager[CSRF_COOKIE]}
            )
            assert answer.status_code in (302, 303), answer.text
            events = [line for line in lines if line.startswith("event: ")]
            ended = time.monotonic() - unpaired
        assert events[-1] == "event: signed-out"
        assert device.get(watching.url + "/board/tickets").status_code == 401
    return ended


def test_an_unpaired_tablets_stream_ends_within_two_seconds(servers: tuple[LiveServer, LiveServer]) -> None:
    first, _ = servers
    assert _stream_ends_after_unpairing(watching=first, unpairing=first) < 2


def test_unpairing_on_one_process_ends_the_stream_on_another(
    servers: tuple[LiveServer, LiveServer], server_url: str | None
) -> None:
    if server_url is None:
        pytest.skip("processes hear each other through PostgreSQL's LISTEN/NOTIFY; SQLite has one process")
    first, second = servers
    assert _stream_ends_after_unpairing(watching=second, unpairing=first) < 2


def _sign_in(server: LiveServer, username: str, headers: dict[str, str] | None = None) -> int:
    with httpx.Client(base_url=server.url, timeout=10, headers=headers) as http:
        http.get("/login")
        token = http.cookies[CSRF_COOKIE]
        answer = http.post("/login", data={"username": username, "password": "wrong password!", "_csrf_token": token})
        return answer.status_code


def test_sign_in_failures_are_counted_over_every_process(servers: tuple[LiveServer, LiveServer]) -> None:
    first, second = servers
    answers = [_sign_in(server, "anna") for server in (first, second, first, second, first)]
    assert answers == [401] * 5
    assert _sign_in(second, "anna") == 429
    assert _sign_in(first, "anna") == 429


def test_forwarded_addresses_are_not_believed_by_default(servers: tuple[LiveServer, LiveServer]) -> None:
    first, _ = servers
    # Each attempt claims another address and tries another name: only the real address ties them.
    answers = [_sign_in(first, f"user{n}", {"X-Forwarded-For": f"203.0.113.{n}"}) for n in range(6)]
    assert answers == [401] * 5 + [429]


def test_a_trusted_proxys_forwarded_address_is_believed(database_url: str) -> None:
    wipe_database(database_url)
    server = LiveServer(database_url, name="proxied", env={"KITCHEN_TRUSTED_PROXIES": "127.0.0.1"}).start()
    try:
        answers = [_sign_in(server, f"user{n}", {"X-Forwarded-For": f"203.0.113.{n}"}) for n in range(6)]
    finally:
        server.stop()
    assert answers == [401] * 6, "six clients behind the proxy, each with its own count"


def test_clients_that_send_their_headers_a_byte_at_a_time_are_cut_off(database_url: str) -> None:
    """200 connections that dribble a request line: each is closed once the header timeout
    passes, and the server answers others meanwhile."""
    wipe_database(database_url)
    server = LiveServer(database_url, name="slowloris", env={"KITCHEN_HEADER_TIMEOUT_SECONDS": "1"}).start()
    sockets: list[socket.socket] = []
    try:
        for _ in range(200):
            slow = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            sockets.append(slow)
        assert httpx.get(server.url + "/health", timeout=5).status_code == 200
        time.sleep(2)
        closed = 0
        for slow in sockets:
            slow.settimeout(0.1)
            try:
                closed += slow.recv(1) == b""  # the server closed it
            except TimeoutError:
                pass  # still open: the server is waiting for the rest of the headers
            except ConnectionError:
                closed += 1
        assert closed == len(sockets), f"{len(sockets) - closed} slow connections still open"
    finally:
        for slow in sockets:
            slow.close()
        server.stop()


def test_a_key_revoked_from_the_command_line_stops_on_every_process_at_once(
    servers: tuple[LiveServer, LiveServer],
) -> None:
    """Processes keep the keys they checked (PostgreSQL); the revocation's NOTIFY clears them."""
    first, second = servers
    with httpx.Client(headers=first.api, timeout=5) as http:
        for server in (first, second, first, second):  # checked, and kept, on both
            assert http.get(server.url + "/api/brands").status_code == 200
        kitchen = Path(sys.executable).parent / "kitchen"
        env = {**os.environ, "KITCHEN_DATABASE_URL": first.database_url}
        done = subprocess.run(
            [str(kitchen), "api-keys", "revoke", "live-test"], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        revoked = time.monotonic()
        for server in (first, second):
            while http.get(server.url + "/api/brands").status_code != 401:
                assert time.monotonic() - revoked < 1, f"{server.name} still takes the revoked key"
                time.sleep(0.05)
