"""Who may reach which route: API keys for /api, tablets and managers for the boards, managers
for the dashboard and the manage page, pickup screens (and tablets and managers) for /pickup.
Resolved once per request and kept on its state."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.csrf import CSRF_SECRET_LENGTH, generate_csrf_hash
from litestar.plugins.htmx import HTMXHeaders
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.auth.keys import ApiKeyCache
from kitchen.auth.models import ApiKey
from kitchen.auth.secrets import digest
from kitchen.auth.service import (
    API_KEY,
    MANAGER,
    PICKUP_SCREEN,
    SESSION_LIFETIMES,
    TABLET,
    Credentials,
    Principal,
)
from kitchen.settings import Settings

SESSION_COOKIE = "kitchen_session"
CSRF_COOKIE = "kitchen_csrf"
# A paired tablet stays signed in for good (until unpaired); browsers cap cookies at 400 days.
SESSION_SECONDS = {kind: int(lifetime.total_seconds()) for kind, lifetime in SESSION_LIFETIMES.items()}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_KEY_HELP = "send an API key as 'Authorization: Bearer <key>'; create one with 'kitchen api-keys create NAME'"


# What a paired device may open, by its kind, in the words its refusals use.
DEVICE_HOMES = {TABLET: "/board", PICKUP_SCREEN: "/pickup"}
DEVICE_ONLY = {
    TABLET: "a kitchen tablet can use the boards only",
    PICKUP_SCREEN: "a pickup screen can show /pickup only",
}


class NotForThisDevice(PermissionDeniedException):
    """A device's browser asked for a manager's page: it gets a page that says what it may open."""

    def __init__(self, device: str, kind: str = TABLET) -> None:
        super().__init__(detail=DEVICE_ONLY[kind])
        self.device = device
        self.kind = kind
        self.home = DEVICE_HOMES[kind]


class OpenInstead(PermissionDeniedException):
    """A device's browser asked for a page its role does not show: it is sent to the one it does."""

    def __init__(self, to: str, detail: str) -> None:
        super().__init__(detail=detail)
        self.to = to


class SignInRequired(NotAuthorizedException):
    """A person's browser without a session: sent to sign in (managers) or to pair (tablets)."""

    def __init__(self, to: str) -> None:
        super().__init__(detail=f"sign in first: {to}")
        self.to = to


class CSRFNotBound(PermissionDeniedException):
    """A form or htmx request whose CSRF token was not issued to this browser's session."""


def session_cookies(session_token: str, secret: str) -> dict[str, str]:
    """The cookies of a browser session: its token, and the CSRF token that belongs to it."""
    return {SESSION_COOKIE: session_token, CSRF_COOKIE: bound_csrf_token(session_token, secret)}


def bound_csrf_token(session_token: str, secret: str) -> str:
    """The CSRF token of one session, in the shape Litestar's CSRF check reads (a secret part and
    its HMAC): derived from the session, so a token made for another browser, or for nobody, fails."""
    secret_part = hmac.new(secret.encode(), f"csrf:{session_token}".encode(), hashlib.sha256).hexdigest()
    secret_part = secret_part[:CSRF_SECRET_LENGTH]
    return secret_part + generate_csrf_hash(token=secret_part, secret=secret)


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
        # A key checked lately is known in the process until a revocation anywhere is heard
        # (kitchen/auth/keys.py); otherwise one indexed lookup, in Core on the request's connection.
        key_hash = digest(credential.strip())
        cache: ApiKeyCache | None = connection.app.state.api_keys
        known = cache.get(key_hash) if cache is not None else None
        if known is not None:
            return Principal("api-key", *known)
        conn = await request_session(connection).connection()
        row = (await conn.execute(_API_KEY, {"key_hash": key_hash})).first()
        if row is None:
            return None
        if cache is not None:
            cache.put(key_hash, row.id, row.name)
        return Principal("api-key", row.id, row.name)
    token = connection.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    clock = connection.app.state.clock
    principal = await Credentials(request_session(connection), clock=clock).session_principal(token)
    if principal is not None and connection.scope.get("method", "GET") not in SAFE_METHODS:
        # Litestar has checked that the request's token equals the CSRF cookie; this checks that
        # the cookie is the one issued to this session (double submit alone trusts any cookie).
        expected = bound_csrf_token(token, settings.secret_key)
        if not hmac.compare_digest(connection.cookies.get(CSRF_COOKIE, ""), expected):
            raise CSRFNotBound(detail="the CSRF token does not belong to this session; reload the page")
    return principal


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


def stream_session(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[int | None, Callable[[], Awaitable[bool]]]:
    """The session an event stream belongs to, and how the stream asks (at each ping, with a
    session of its own: the request's is closed by then) whether that session still lasts."""
    principal = known_principal(connection)
    session_id = principal.session_id if principal is not None else None
    sessions = connection.app.state.sessions
    clock = connection.app.state.clock

    async def signed_in() -> bool:
        if session_id is None:
            return False
        async with sessions() as session:
            return await Credentials(session, clock=clock).session_lasts(session_id)

    return session_id, signed_in


async def api_client(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal = await principal_of(connection)
    if principal is None or principal.kind != API_KEY:
        raise NotAuthorizedException(detail=API_KEY_HELP, headers={"WWW-Authenticate": 'Bearer realm="kitchen"'})


def _wants_page(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    # A person's browser asking for a page gets a redirect; htmx, streams and scripts get a 401.
    accept = connection.headers.get("accept", "")
    return "text/html" in accept and HTMXHeaders.REQUEST.value not in connection.headers


def _not_paired(connection: ASGIConnection[Any, Any, Any, Any]) -> Exception:
    if _wants_page(connection):
        return SignInRequired("/pair")
    return NotAuthorizedException(detail="this device is not paired: a manager pairs it at /manage, then open /pair")


async def board_user(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Cooks' tablets and managers. A pickup screen is sent to its own page; it changes nothing."""
    principal = await principal_of(connection)
    if principal is not None and principal.kind in (TABLET, MANAGER):
        return
    if principal is not None and principal.kind == PICKUP_SCREEN:
        if _wants_page(connection) and connection.scope.get("method", "GET") in SAFE_METHODS:
            raise OpenInstead(DEVICE_HOMES[PICKUP_SCREEN], DEVICE_ONLY[PICKUP_SCREEN])
        raise PermissionDeniedException(detail=DEVICE_ONLY[PICKUP_SCREEN])
    raise _not_paired(connection)


async def screen_user(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Whoever may look at a kitchen screen: a pickup screen, a cook's tablet or a manager."""
    principal = await principal_of(connection)
    if principal is not None and principal.kind in (PICKUP_SCREEN, TABLET, MANAGER):
        return
    raise _not_paired(connection)


async def manager_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal = await principal_of(connection)
    if principal is not None and principal.kind == MANAGER:
        return
    if principal is not None and principal.is_device:
        if _wants_page(connection):
            raise NotForThisDevice(principal.name, principal.kind)
        raise PermissionDeniedException(detail=DEVICE_ONLY[principal.kind])
    if _wants_page(connection):
        raise SignInRequired(f"/login?next={connection.url.path}")
    raise NotAuthorizedException(detail="managers only: sign in at /login")
