"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Response
from msgspec import Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kitchen.db import RETRY_AFTER_SECONDS, is_database_unavailable

READY_TIMEOUT_SECONDS = 2.0


class Probe(Struct, omit_defaults=True):
    status: str
    detail: str | None = None


# Probes answer anyone: `[{}]` overrides the API key the schema asks for everywhere else.
NO_AUTHENTICATION: list[dict[str, list[str]]] = [{}]


@get("/health", tags=["health"], summary="The process is alive", cache=False, security=NO_AUTHENTICATION)
async def health() -> Probe:
    return Probe(status="ok")


@get(
    "/ready",
    tags=["health"],
    summary="The database answers (503 when it does not)",
    cache=False,
    security=NO_AUTHENTICATION,
    responses={
        503: ResponseSpec(
            data_container=Probe, description=f"The database did not answer within {READY_TIMEOUT_SECONDS} s"
        )
    },
)
async def ready(request: Request[Any, Any, Any]) -> Response[Probe]:
    """SELECT 1 on a connection of the pool, answered within READY_TIMEOUT_SECONDS whatever the
    database does: a probe still waiting then (a frozen server) goes on in the background, and
    its connection is the pool's to drop, not this request's to wait for."""
    probe = asyncio.ensure_future(_select_one(request.app.state.engine))
    probe.add_done_callback(_forget)
    done, _ = await asyncio.wait({probe}, timeout=READY_TIMEOUT_SECONDS)
    if not done or probe.exception() is not None:
        error = probe.exception() if done else None
        if error is not None and not is_database_unavailable(error):
            raise error
        unavailable = Response(Probe(status="unavailable", detail="the database cannot be reached"), status_code=503)
        unavailable.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return unavailable
    return Response(Probe(status="ready"))


async def _select_one(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def _forget(probe: asyncio.Future[None]) -> None:
    # A probe that outlived its request fails quietly (its answer was 503 already).
    if not probe.cancelled():
        probe.exception()
