"""The app as a real server process (uvicorn on 127.0.0.1), for browser and multi-process tests."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from kitchen.settings import PROJECT_ROOT
from tests.conftest import wipe

LOG_DIR = PROJECT_ROOT / "test-artifacts"
UVICORN = [sys.executable, "-m", "uvicorn", "kitchen.app:app", "--host", "127.0.0.1"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wipe_database(url: str) -> None:
    async def run() -> None:
        engine = create_async_engine(url)
        try:
            await wipe(engine)
        finally:
            await engine.dispose()

    # Playwright's sync API keeps an event loop running in this thread: use a fresh thread's loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


class LiveServer:
    def __init__(self, database_url: str, port: int | None = None, name: str = "server") -> None:
        self.database_url = database_url
        self.port = port or free_port()
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        LOG_DIR.mkdir(exist_ok=True)
        env = {**os.environ, "KITCHEN_DATABASE_URL": self.database_url, "KITCHEN_LOG_LEVEL": "WARNING"}
        log = Path(LOG_DIR / f"{self.name}-{self.port}.log").open("ab")  # noqa: SIM115  # closed with the process
        self.process = subprocess.Popen(
            # Open event streams never end by themselves: shutdown waits 1 s for them, not forever.
            [*UVICORN, "--port", str(self.port), "--timeout-graceful-shutdown", "1"],
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
