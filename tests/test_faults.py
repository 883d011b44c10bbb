"""PostgreSQL stops while the app runs, then starts again; the app is never restarted.

The test owns a throwaway PostgreSQL cluster (initdb and pg_ctl on a temporary data directory, as
the `postgres` OS user, on a free port of 127.0.0.1) so it can stop the database under a real
server process. What must hold:
- during the outage every API request fails within a few seconds with the JSON 503
  `database_unavailable` (no hang, no 500), /ready says 503, /health stays 200, and every open
  board is told `offline`;
- within 5 s of the database being back every request works again, and each board's stream is
  closed so it reconnects and resyncs the whole board;
- nothing committed is lost, a POST that failed can be retried and creates its order exactly once,
  and no order exists without its items and their history.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from kitchen.auth.guards import SESSION_COOKIE
from kitchen.db import DriverStatement, is_database_unavailable
from tests.conftest import migrate
from tests.helpers import live_order_payload
from tests.live_server import LiveServer, free_port, new_api_key, paired_tablet_cookie, run_with_database

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda d: int(d.parent.name), reverse=True)
# Requests wait at most this long for a pool connection, so an outage answers quickly.
POOL_TIMEOUT_SECONDS = 1
FAIL_FAST_SECONDS = 3.0
RECOVERY_SECONDS = 5.0
EVENT_SECONDS = 10.0


class ThrowawayCluster:
    """A PostgreSQL cluster of our own in a temporary directory, started and stopped at will."""

    def __init__(self) -> None:
        if not PG_BIN_DIRS:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql (postgresql-15)")
        self.bin = PG_BIN_DIRS[0]
        self.port = free_port()
        # Not pytest's tmp_path: the postgres user must be able to reach it.
        self.root = Path(tempfile.mkdtemp(prefix="kitchen-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            # initdb refuses to run as root.
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stdout}{done.stderr}")

    def create(self) -> ThrowawayCluster:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class BoardStream:
    """A tablet's event stream, read on a thread: (event, data) pairs, then None when the server ends it."""

    url: str
    cookie: str
    events: queue.Queue[tuple[str, str] | None] = field(default_factory=queue.Queue)
    _response: httpx.Response | None = None

    def open(self) -> BoardStream:
        threading.Thread(target=self._read, name="board-stream", daemon=True).start()
        return self

    def _read(self) -> None:
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(5, read=40), cookies={SESSION_COOKIE: self.cookie}) as http,
                http.stream("GET", self.url + "/board/stream") as stream,
            ):
                self._response = stream
                event, data = "message", []
                for line in stream.iter_lines():
                    if line.startswith("event:"):
                        event = line.removeprefix("event:").strip()
                    elif line.startswith("data:"):
                        data.append(line.removeprefix("data:").removeprefix(" "))
                    elif line == "":
                        self.events.put((event, "\n".join(data)))
                        event, data = "message", []
        except (httpx.HTTPError, RuntimeError) as exc:
            # RuntimeError: close() from the test's thread ended the read.
            self.events.put(("transport-error", str(exc)))
        finally:
            self.events.put(None)

    def close(self) -> None:
        if self._response is not None:
            with contextlib.suppress(Exception):
                self._response.close()

    def next_event(self, *wanted: str, timeout: float = EVENT_SECONDS) -> tuple[str, str] | None:
        """The next event named one of `wanted`, skipping others; None if the stream ended first."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self.events.get(timeout=left)
            except queue.Empty:
                break
            if item is None or item[0] in wanted:
                return item
        raise AssertionError(f"no {' or '.join(wanted)} event within {timeout} s")

    def wait_closed(self, timeout: float = EVENT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                if self.events.get(timeout=left) is None:
                    return
            except queue.Empty:
                break
        raise AssertionError(f"the server did not close the board stream within {timeout} s")


class OrderWriter:
    """A delivery channel that keeps sending new orders (at most `limit`) until told to stop."""

    def __init__(self, server: LiveServer, limit: int = 400) -> None:
        self.server = server
        self.limit = limit
        self.sent: list[tuple[dict[str, Any], int]] = []  # (payload, status, or 0 for no answer)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="order-writer", daemon=True)

    def start(self) -> OrderWriter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(headers=self.server.api, timeout=10) as http:
            while not self._stop.is_set() and len(self.sent) < self.limit:
                payload = live_order_payload()
                try:
                    status = http.post(self.server.url + "/api/orders", json=payload).status_code
                except httpx.HTTPError:
                    status = 0
                self.sent.append((payload, status))
                time.sleep(0.01)


@pytest.fixture
def cluster(server_url: str | None) -> Iterator[ThrowawayCluster]:
    if server_url is None:
        pytest.skip("stopping the database under a running app is a PostgreSQL test (set KITCHEN_TEST_DATABASE_URL)")
    cluster = ThrowawayCluster()
    try:
        cluster.create().start()
        migrate(cluster.url)
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def server(cluster: ThrowawayCluster) -> Iterator[LiveServer]:
    server = LiveServer(
        cluster.url, name="faults", env={"KITCHEN_DB_POOL_TIMEOUT_SECONDS": str(POOL_TIMEOUT_SECONDS)}
    ).start()
    try:
        server.api_key = new_api_key(cluster.url, "faults")
        yield server
    finally:
        server.stop()


def timed(http: httpx.Client, method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = http.request(method, url, **kwargs)
    return response, time.monotonic() - started


def assert_database_unavailable(response: httpx.Response, seconds: float, what: str) -> None:
    assert response.status_code == 503, f"{what}: {response.status_code} {response.text}"
    body = response.json()
    assert body["status"] == 503, f"{what}: {body}"
    assert body["code"] == "database_unavailable", f"{what}: {body}"
    assert body["detail"], f"{what}: {body}"
    assert "Traceback" not in response.text, f"{what}: {response.text}"
    assert seconds < FAIL_FAST_SECONDS, f"{what} took {seconds:.1f} s to fail"


def wait_until_ready(http: httpx.Client, server: LiveServer, since: float) -> float:
    """Seconds from `since` until /ready answers 200; fails after RECOVERY_SECONDS."""
    while time.monotonic() - since < RECOVERY_SECONDS:
        with contextlib.suppress(httpx.TimeoutException):
            if http.get(server.url + "/ready", timeout=1).status_code == 200:
                return time.monotonic() - since
        time.sleep(0.1)
    raise AssertionError(f"/ready still not 200 {RECOVERY_SECONDS} s after PostgreSQL was back")


def integrity_problems(url: str) -> dict[str, list[str]]:
    """Orders without items or without history, and items without history: each must be empty."""
    checks = {
        "orders without items": (
            "SELECT o.id FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)"
        ),
        "orders without history": (
            "SELECT o.id FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_status_events e WHERE e.order_id = o.id)"
        ),
        "items without history": (
            "SELECT i.order_id || '/' || i.plu FROM order_items i"
            " WHERE NOT EXISTS (SELECT 1 FROM item_status_events e WHERE e.item_id = i.id)"
        ),
    }

    async def work(session: AsyncSession) -> dict[str, list[str]]:
        return {name: list((await session.scalars(text(sql))).all()) for name, sql in checks.items()}

    return run_with_database(url, work)


def order_counts(url: str, order_ids: list[str]) -> dict[str, int]:
    """How many orders each id has in the database (0 for none)."""
    statement = text("SELECT id, count(*) FROM orders WHERE id IN :ids GROUP BY id").bindparams(
        bindparam("ids", expanding=True)
    )

    async def work(session: AsyncSession) -> dict[str, int]:
        found = {row[0]: row[1] for row in await session.execute(statement, {"ids": order_ids})}
        return {order_id: found.get(order_id, 0) for order_id in order_ids}

    return run_with_database(url, work)


@pytest.mark.parametrize(
    "driver_error",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.ConnectionFailureError("connection failure"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_server_going_away_counts_as_unavailable_whatever_sqlalchemy_wraps_it_in(driver_error: Exception) -> None:
    # SQLAlchemy turns these asyncpg errors into a bare DBAPIError around its adapter's own error.
    adapted = Exception(str(driver_error))
    adapted.__cause__ = driver_error
    assert is_database_unavailable(DBAPIError("SELECT 1", {}, adapted))


def test_a_failing_statement_is_not_an_outage() -> None:
    adapted = Exception("duplicate key")
    adapted.__cause__ = asyncpg.exceptions.UniqueViolationError("duplicate key value violates unique constraint")
    assert not is_database_unavailable(DBAPIError("INSERT", {}, adapted))


def test_a_database_outage_fails_fast_and_recovers_without_restarting_the_app(
    cluster: ThrowawayCluster, server: LiveServer
) -> None:
    api = server.url + "/api/orders"
    tablet = paired_tablet_cookie(cluster.url, "pass tablet")
    with httpx.Client(headers=server.api, timeout=15) as http, contextlib.ExitStack() as cleanup:
        # Before: a board is live, and orders exist with a committed change.
        board = BoardStream(server.url, tablet).open()
        cleanup.callback(board.close)
        assert board.next_event("resync") is not None
        before = http.post(api, json=live_order_payload()).json()
        moved = http.patch(f"{api}/{before['id']}/items/BB-1/status", json={"status": "PREPARING"})
        assert moved.status_code == 200, moved.text
        assert board.next_event("ticket") is not None, "the board heard nothing before the outage"
        stored_before = http.get(f"{api}/{before['id']}").json()

        # Orders keep coming while the database stops and starts, so some are in flight at the stop.
        writer = OrderWriter(server).start()
        cleanup.callback(writer.stop)
        time.sleep(0.3)
        cluster.stop()

        # During: every API request fails fast with the one error shape; probes tell the truth.
        retried = live_order_payload()
        for method, url, body in [
            ("POST", api, retried),
            ("PATCH", f"{api}/{before['id']}/status", {"status": "READY"}),
            ("PATCH", f"{api}/{before['id']}/items/BB-2/status", {"status": "PREPARING"}),
            ("GET", f"{api}/{before['id']}", None),
            ("GET", api, None),
        ]:
            response, seconds = timed(http, method, url, json=body)
            assert_database_unavailable(response, seconds, f"{method} {url}")
        ready, seconds = timed(http, "GET", server.url + "/ready")
        assert ready.status_code == 503, ready.text
        assert seconds < FAIL_FAST_SECONDS, f"/ready took {seconds:.1f} s"
        assert http.get(server.url + "/health").status_code == 200
        offline = board.next_event("offline")
        assert offline is not None, "the board stream ended instead of saying it is offline"
        refused, seconds = timed(
            http, "GET", server.url + "/board/stream", headers={"Cookie": f"{SESSION_COOKIE}={tablet}"}
        )
        assert_database_unavailable(refused, seconds, "a board connecting during the outage")

        cluster.start()
        back = time.monotonic()

        # After: everything works again within 5 s, without restarting the app.
        wait_until_ready(http, server, back)
        assert http.get(f"{api}/{before['id']}").status_code == 200
        assert time.monotonic() - back < RECOVERY_SECONDS
        time.sleep(0.3)
        writer.stop()
        answers = {status for _, status in writer.sent}
        assert answers <= {201, 503}, f"orders sent across the outage were answered {sorted(answers)} (0: none)"
        assert 503 in answers, "no order was refused: the outage was not seen"
        # The board's stream is ended by the server once it hears the database again, so it resyncs.
        board.wait_closed()
        created = http.post(api, json=retried)
        assert created.status_code == 201, created.text
        again = http.post(api, json=retried)
        assert again.status_code == 200, again.text
        after = http.post(api, json=live_order_payload()).json()
        reconnected = BoardStream(server.url, tablet).open()
        cleanup.callback(reconnected.close)
        resync = reconnected.next_event("resync")
        assert resync is not None, "the reconnected board got no resync"
        assert after["channelOrderId"] in resync[1]
        assert retried["channelOrderId"] in resync[1]

        # Nothing committed was lost, and nothing was half written; a retry creates an order once.
        assert http.get(f"{api}/{before['id']}").json() == stored_before
        for payload, status in writer.sent:
            if status == 201:
                assert http.get(f"{api}/{payload['id']}").status_code == 200, f"{payload['id']} was lost"
            else:
                retry = http.post(api, json=payload)
                # 200: the refused request had committed after all; the retry finds the same order.
                assert retry.status_code in (200, 201), retry.text
        ids = [retried["id"], *(payload["id"] for payload, _ in writer.sent)]
        assert order_counts(cluster.url, ids) == dict.fromkeys(ids, 1)
        assert integrity_problems(cluster.url) == {
            "orders without items": [],
            "orders without history": [],
            "items without history": [],
        }


def _cluster_processes(cluster: ThrowawayCluster) -> list[int]:
    """The postmaster and every backend of the throwaway cluster."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().splitlines()[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False)
    return [postmaster, *(int(pid) for pid in children.stdout.split())]


@pytest.fixture
def frozen_server(cluster: ThrowawayCluster) -> Iterator[LiveServer]:
    """A server whose statements may take 2 s (KITCHEN_DB_STATEMENT_TIMEOUT_SECONDS), for a quick test."""
    server = LiveServer(
        cluster.url,
        name="frozen",
        env={"KITCHEN_DB_POOL_TIMEOUT_SECONDS": str(POOL_TIMEOUT_SECONDS), "KITCHEN_DB_STATEMENT_TIMEOUT_SECONDS": "2"},
    ).start()
    try:
        server.api_key = new_api_key(cluster.url, "frozen")
        yield server
    finally:
        server.stop()


def test_a_database_that_stops_answering_costs_a_request_seconds_and_a_503(
    cluster: ThrowawayCluster, frozen_server: LiveServer
) -> None:
    """SIGSTOP on every PostgreSQL process: the network partition case, where nothing is refused
    and nothing answers. Requests fail within their timeouts (503 with Retry-After), /ready within
    its 2 s, and everything works again once the server runs on."""
    server = frozen_server
    api = server.url + "/api/orders"
    with httpx.Client(headers=server.api, timeout=30) as http:
        order = http.post(api, json=live_order_payload()).json()
        frozen = _cluster_processes(cluster)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            for method, url, body in [
                ("PATCH", f"{api}/{order['id']}/items/BB-1/status", {"status": "PREPARING"}),
                ("GET", f"{api}/{order['id']}", None),
                ("POST", api, live_order_payload()),
                ("PATCH", f"{api}/{order['id']}/status", {"status": "READY"}),
            ]:
                response, seconds = timed(http, method, url, json=body)
                assert response.status_code == 503, f"{method} {url}: {response.status_code} {response.text}"
                assert response.json()["code"] == "database_unavailable"
                assert int(response.headers["Retry-After"]) > 0
                assert seconds < 6, f"{method} {url} took {seconds:.1f} s to fail"
            ready, seconds = timed(http, "GET", server.url + "/ready")
            assert ready.status_code == 503
            assert seconds < 2.5, f"/ready took {seconds:.1f} s"
            assert http.get(server.url + "/health").status_code == 200
            time.sleep(max(0.0, 12 - (time.monotonic() - started)))  # frozen for 12 s in all
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        back = time.monotonic()
        wait_until_ready(http, server, back)
        moved = http.patch(f"{api}/{order['id']}/items/BB-1/status", json={"status": "PREPARING"})
        assert moved.status_code == 200, moved.text
        assert time.monotonic() - back < RECOVERY_SECONDS
    assert integrity_problems(cluster.url) == {
        "orders without items": [],
        "orders without history": [],
        "items without history": [],
    }


@pytest.mark.anyio
async def test_a_connection_ended_mid_statement_is_dropped_not_rolled_back(database_url: str) -> None:
    """The server ends a backend while a prebuilt statement runs on the driver (kitchen/db.py): the
    request gets the one outage error, its session closes without a second one (no ROLLBACK sent
    on the dead connection, which would turn the 503 into a 500 after the response began), and
    the pool hands out a good connection next."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the driver's own connection is PostgreSQL's (asyncpg); SQLite runs through SQLAlchemy")
    engine = create_async_engine(database_url)
    sleeping = DriverStatement(text("SELECT pg_sleep(5)"))
    try:
        async with AsyncSession(engine) as session:
            await session.execute(text("SELECT 1"))  # the transaction has begun on the driver
            conn = await session.connection()
            backend = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()

            async def end_backend() -> None:
                await asyncio.sleep(0.5)
                async with engine.connect() as other:
                    await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})

            ender = asyncio.create_task(end_backend())
            with pytest.raises(DBAPIError) as raised:
                await sleeping.rows(conn, {})
            await ender
            assert is_database_unavailable(raised.value)
            assert conn.invalidated
        # Closing the session above raised nothing; the next one works on a fresh connection.
        async with AsyncSession(engine) as session:
            assert (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one() != backend
    finally:
        await engine.dispose()
