"""The request class of the app: lenient about key spelling, strict about JSON itself."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response
from litestar.status_codes import HTTP_200_OK
from litestar.utils.scope.state import ScopeState

from kitchen.orders.schemas import camelize_keys


class MalformedJSON(ValueError):
    """A body that is not JSON at all (as opposed to JSON with a wrong field)."""


class KitchenRequest(Request[Any, Any, Any]):
    """JSON bodies may use snake_case or camelCase keys and `_id` for `id`, as channels send them."""

    async def json(self) -> Any:
        body = await self.body()
        try:
            value = msgspec.json.decode(body or b"null")
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise MalformedJSON(f"the body is not valid JSON: {exc}") from exc
        return camelize_keys(value)


def html(body: str, status_code: int = HTTP_200_OK, headers: dict[str, str] | None = None) -> Response[str]:
    """An HTML page or fragment (Litestar adds the charset)."""
    return Response(body, media_type="text/html", status_code=status_code, headers=headers)


def csrf_token(request: Request[Any, Any, Any]) -> str:
    """The CSRF token of this browser, for forms and the meta tag that htmx requests read."""
    token = ScopeState.from_scope(request.scope).csrf_token
    return token if isinstance(token, str) else ""
