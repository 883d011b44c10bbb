"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import asyncio

from litestar import get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Response
from msgspec import Struct
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.errors import is_database_unavailable

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
    responses={503: ResponseSpec(data_container=Probe, description="The database cannot be reached")},
)
async def ready(db_session: NamedDependency[AsyncSession]) -> Response[Probe]:
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await db_session.execute(text("SELECT 1"))
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        return Response(Probe(status="unavailable", detail="the database cannot be reached"), status_code=503)
    return Response(Probe(status="ready"))
