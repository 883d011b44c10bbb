"""The app as a real server process (uvicorn on 127.0.0.1), for browser and multi-process tests."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from kitchen.auth.guards import SESSION_COOKIE, session_cookies
from kitchen.auth.models import BOARD_ROLE
from kitchen.auth.service import Credentials, Principal
from kitchen.settings import PROJECT_ROOT
from tests.conftest import wipe

LOG_DIR = PROJECT_ROOT / "test-artifacts"
# The production command: `kitchen run` (uvicorn with the kitchen's limits, see kitchen/serve.py).
KITCHEN = [str(Path(sys.executable).parent / "kitchen"), "run", "--host", "127.0.0.1"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


T = TypeVar("T")
# Server processes and tests share it, so tests can sign the cookies a paired tablet would hold.
SECRET_KEY = "live-server-test-secret-" + "s" * 32


def run_with_database(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_async_engine(url)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    # Playwright's sync API keeps an event loop running in this thread: use a fresh thread's loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


def wipe_database(url: str) -> None:
    async def work(session: AsyncSession) -> None:
        await wipe(session.bind)  # type: ignore[arg-type]  # an AsyncEngine here

    run_with_database(url, work)


def new_api_key(url: str, name: str = "live-test") -> str:
    async def work(session: AsyncSession) -> str:
        return (await Credentials(session).create_api_key(name))[1]

    return run_with_database(url, work)


def paired_tablet_cookies(url: str, name: str, role: str = BOARD_ROLE) -> dict[str, str]:
    """The cookies of a freshly paired tablet (or, with `role="pickup"`, pickup screen): its
    session, and the CSRF token bound to it."""

    async def work(session: AsyncSession) -> dict[str, str]:
        credentials = Credentials(session)
        code, _ = await credentials.create_pairing_code(Principal("manager", 0, "test"), role)
        tablet = await credentials.pair_tablet(code, name)
        assert tablet is not None
        token, _ = await credentials.open_session(tablet)
        return session_cookies(token, SECRET_KEY)

    return run_with_database(url, work)


def paired_tablet_cookie(url: str, name: str) -> str:
    """The session cookie value of a freshly paired tablet (enough to read a board)."""
    return paired_tablet_cookies(url, name)[SESSION_COOKIE]


class LiveServer:
    def __init__(
        self,
        database_url: str,
        port: int | None = None,
        name: str = "server",
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.database_url = database_url
        self.args = args  # more `kitchen run` options, e.g. ("--workers", "2")
        self.port = port or free_port()
        self.name = name
        # Extra KITCHEN_* settings for this server, over the test run's own environment.
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.api_key = ""

    @property
    def api(self) -> dict[str, str]:
        """Headers of an integration calling the JSON API."""
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        LOG_DIR.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "KITCHEN_DATABASE_URL": self.database_url,
            "KITCHEN_LOG_LEVEL": "WARNING",
            "KITCHEN_SECRET_KEY": SECRET_KEY,
            # Open event streams never end by themselves: shutdown waits 1 s for them, not 5.
            "KITCHEN_SHUTDOWN_SECONDS": "1",
            **self.env,
        }
        log = Path(LOG_DIR / f"{self.name}-{self.port}.log").open("ab")  # noqa: SIM115  # closed with the process
        self.process = subprocess.Popen(
            [*KITCHEN, "--port", str(self.port), *self.args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {log.name}")
            try:
                if httpx.get(self.url + "/health", timeout=0.5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start on port {self.port}")

    def kill(self) -> None:
        """The process dies at once (a crash, a pulled cable): no goodbye to its boards."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
