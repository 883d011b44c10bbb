"""What every request passes before it is routed: a path and query without control characters,
and a slash percent-encoded inside one path segment kept there.

- NUL and other control characters have no business in an address; PostgreSQL cannot store NUL
  in text at all, and a NUL in a file name is an error in the operating system. Refused with a
  400 before anything reads them (the same on both databases).
- An order id or a PLU may contain "/" (a half-and-half pizza: `PZ/HALF`); a client sends it as
  `%2F`. The ASGI server decodes the path before routing, which would split the segment in two.
  The gate routes on the raw path instead, with an encoded slash standing in as `ENCODED_SLASH`
  within its segment, and `restore_slashes` puts the "/" back in the path parameters the router
  found.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, ExceptionHandlersMap, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

# A private-use character: never in a decoded path (control characters are refused, and no
# identifier of ours can hold it), so it can stand for "/" inside a segment while routing.
ENCODED_SLASH = "\ue000"


class RequestRefused(HTTPException):
    """A request the gate refuses; `field` names the part at fault."""

    status_code = 400

    def __init__(self, detail: str, field: str) -> None:
        super().__init__(detail=detail)
        self.field = field


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 or c == ENCODED_SLASH for c in text)


def check_address(scope: Any) -> None:
    """Refuse control characters in the path or the query; keep encoded slashes in their segment."""
    path: str = scope["path"]
    if _has_control(path):
        raise RequestRefused("the path holds a control character (NUL, newline, ...)", "path")
    raw: bytes = scope.get("raw_path") or b""
    if b"%2f" in raw.lower():
        segments = raw.decode("ascii", errors="replace").split("/")
        scope["path"] = "/".join(unquote(segment).replace("/", ENCODED_SLASH) for segment in segments)
    query: bytes = scope.get("query_string") or b""
    if b"%" in query or any(byte < 32 for byte in query):
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if _has_control(name) or _has_control(value):
                raise RequestRefused(f"{name!r}: a query value holds a control character (NUL, newline, ...)", name)


class RequestGate:
    """The ASGI app in front of Litestar's router (see `kitchen.app.KitchenApp`)."""

    def __init__(self, app: ASGIApp, exception_handlers: ExceptionHandlersMap) -> None:
        self.app = app
        self.exception_handlers = exception_handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in (ScopeType.HTTP, ScopeType.WEBSOCKET):
            try:
                check_address(scope)
            except RequestRefused:
                # As Litestar's router does for an error before routing: the app's handlers answer it.
                ScopeState.from_scope(scope).exception_handlers = self.exception_handlers
                raise
        await self.app(scope, receive, send)


class RestoreSlashes(ASGIMiddleware):
    """After routing: the "/" of an encoded slash back in the path parameters."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        params = scope.get("path_params")
        if params:
            for name, value in params.items():
                if isinstance(value, str) and ENCODED_SLASH in value:
                    params[name] = value.replace(ENCODED_SLASH, "/")
        await next_app(scope, receive, send)
