"""Who may reach which route: API keys for /api, tablets and managers for the boards, managers
for the dashboard and the manage page. Resolved once per request and kept on its state."""

from __future__ import annotations

import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.auth.models import ApiKey
from kitchen.auth.secrets import SessionValue, digest, sign, unsign
from kitchen.auth.service import Credentials, Principal
from kitchen.settings import Settings

SESSION_COOKIE = "kitchen_session"
MANAGER_SESSION_SECONDS = 12 * 3600
# A paired tablet stays signed in for good (until unpaired); browsers cap cookies at 400 days.
TABLET_SESSION_SECONDS = 400 * 24 * 3600
API_KEY_HELP = "send an API key as 'Authorization: Bearer <key>'; create one with 'kitchen api-keys create NAME'"


class NotForThisDevice(PermissionDeniedException):
    """A tablet's browser asked for a manager's page: it gets a page that says what it may open."""

    def __init__(self, device: str) -> None:
        super().__init__(detail="a kitchen tablet can use the boards only")
        self.device = device


class SignInRequired(NotAuthorizedException):
    """A person's browser without a session: sent to sign in (managers) or to pair (tablets)."""

    def __init__(self, to: str) -> None:
        super().__init__(detail=f"sign in first: {to}")
        self.to = to


def session_cookie_value(principal: Principal, settings: Settings) -> str:
    return sign(SessionValue(principal.kind, principal.id, int(time.time())), settings.secret_key)


# Built once: every API request runs it.
_API_KEY = select(ApiKey.id, ApiKey.name).where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))


def request_session(connection: ASGIConnection[Any, Any, Any, Any]) -> AsyncSession:
    """The request's own session, the one its handler gets as `db_session` (closed when the
    response starts): checking who asks takes no pool connection of its own."""
    return connection.app.state.db_config.provide_session(connection.app.state, connection.scope)  # type: ignore[no-any-return]


async def _resolve(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    settings: Settings = connection.app.state.settings
    authorization = connection.headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() == "bearer" and credential:
        # Every API request checks its key (no cache, so a revoked key stops at once): one indexed
        # lookup, in Core on the request's connection.
        conn = await request_session(connection).connection()
        row = (await conn.execute(_API_KEY, {"key_hash": digest(credential.strip())})).first()
        return Principal("api-key", row.id, row.name) if row else None
    cookie = connection.cookies.get(SESSION_COOKIE)
    value = unsign(cookie, settings.secret_key) if cookie else None
    if value is None:
        return None
    credentials = Credentials(request_session(connection))
    age = time.time() - value.issued
    if value.kind == "manager" and age < MANAGER_SESSION_SECONDS:
        return await credentials.manager(value.id)
    if value.kind == "tablet" and age < TABLET_SESSION_SECONDS:
        return await credentials.tablet(value.id)
    return None


async def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """The caller, looked up once per request."""
    if "principal" not in connection.state:
        connection.state.principal = await _resolve(connection)
    principal: Principal | None = connection.state.principal
    return principal


def known_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """The caller a guard of this request has looked up (None if no guard ran or nobody is signed in)."""
    principal: Principal | None = connection.state.get("principal")
    return principal


async def api_client(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal = await principal_of(connection)
    if principal is None or principal.kind != "api-key":
        raise NotAuthorizedException(detail=API_KEY_HELP, headers={"WWW-Authenticate": 'Bearer realm="kitchen"'})


def _wants_page(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    # A person's browser asking for a page gets a redirect; htmx, streams and scripts get a 401.
    accept = connection.headers.get("accept", "")
    return "text/html" in accept and "hx-request" not in connection.headers


async def board_user(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal = await principal_of(connection)
    if principal is not None and principal.kind in ("tablet", "manager"):
        return
    if _wants_page(connection):
        raise SignInRequired("/pair")
    raise NotAuthorizedException(detail="this tablet is not paired: a manager pairs it at /manage, then open /pair")


async def manager_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal = await principal_of(connection)
    if principal is not None and principal.kind == "manager":
        return
    if principal is not None and principal.kind == "tablet":
        if _wants_page(connection):
            raise NotForThisDevice(principal.name)
        raise PermissionDeniedException(detail="a kitchen tablet can use the boards only")
    if _wants_page(connection):
        raise SignInRequired(f"/login?next={connection.url.path}")
    raise NotAuthorizedException(detail="managers only: sign in at /login")
