"""`kitchen run`: the app behind uvicorn, with the limits a server on a kitchen's network needs.

Litestar's own `run` passes uvicorn only a host and a port. This one also sets which proxies
are trusted (none by default: `KITCHEN_TRUSTED_PROXIES`), closes idle keep-alive connections,
closes connections whose headers dribble in (uvicorn waits for them for ever), and bounds how
long a stopping process waits for requests in flight.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
from typing import Any

import click
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kitchen.lifecycle import server_stopping
from kitchen.logs import uvicorn_log_config
from kitchen.settings import PROJECT_ROOT, Settings

# A request line and headers larger than this are refused (uvicorn's h11 default is 16 KiB too).
MAX_HEADER_BYTES = 16 * 1024


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request headers do not arrive in
    full within `KITCHEN_HEADER_TIMEOUT_SECONDS` of its opening (or of its next request's first byte),
    and telling the app when the server starts to stop (`kitchen.lifecycle`)."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's
        super().connection_made(transport)
        self._arm_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        # Called on every open connection when a stop begins, before uvicorn waits for them:
        # the boards' streams end now (each told to reconnect elsewhere), not at the timeout.
        server_stopping()
        super().shutdown()

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(header_timeout(), self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


@functools.cache
def header_timeout() -> float:
    # Read in each worker process (uvicorn starts workers afresh, so nothing set here carries over).
    return Settings.from_env().header_timeout_seconds


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What `kitchen run` gives uvicorn, from the settings."""
    return {
        "http": "kitchen.serve:GuardedHttpToolsProtocol",
        "proxy_headers": bool(settings.trusted_proxies.strip()),
        "forwarded_allow_ips": settings.trusted_proxies.strip() or "",
        "timeout_keep_alive": settings.keep_alive_seconds,
        "timeout_graceful_shutdown": settings.shutdown_seconds,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "log_level": settings.log_level.lower(),
        "log_config": uvicorn_log_config(settings.log_format),
    }


def share_metrics_between_workers(workers: int, port: int) -> None:
    """With several workers, prometheus-client's multiprocess mode: each worker writes its values
    to files in PROMETHEUS_MULTIPROC_DIR and a scrape of any worker sums them (kitchen/metrics.py).

    The directory is emptied first: files left by an earlier run would add to this one's counts.
    The workers are started afresh (spawned), so they read the variable before importing the client.
    """
    if workers <= 1 or "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        return
    directory = PROJECT_ROOT / "var" / "metrics" / str(port)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


@click.command(name="run", help="Serve the app (uvicorn) on KITCHEN_HOST:KITCHEN_PORT.")
@click.option("--host", default=None, help="Address to listen on (default: KITCHEN_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: KITCHEN_PORT).")
@click.option("--workers", "-W", type=int, default=1, show_default=True, help="Worker processes.")
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
def run_command(host: str | None, port: int | None, workers: int, reload: bool) -> None:
    import uvicorn

    settings = Settings.from_env()
    share_metrics_between_workers(workers, port or settings.port)
    uvicorn.run(
        "kitchen.app:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        reload=reload,
        **uvicorn_options(settings),
    )
