"""The request class of the app: both key spellings, and strict about everything else in a JSON body.

Integrations build against what the server accepts; whatever it lets slide once, they come to
rely on and break on later. So a body is JSON or it is refused: `application/json` or 415, no
duplicate keys (`brandId` and `brand_id` together are duplicates too), no NaN, no NUL in any
string, no deeper than `MAX_DEPTH`, and every field of exactly its type (`"1"` is not a
quantity, 1700000000 is not a time), each a 4xx naming what is wrong.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from litestar.status_codes import HTTP_200_OK, HTTP_415_UNSUPPORTED_MEDIA_TYPE
from litestar.utils.scope.state import ScopeState

from kitchen.fields import FieldError

MAX_DEPTH = 32
_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json\s*(?:;.*)?$", re.IGNORECASE)
_MSGSPEC_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_CAMEL_BOUNDARY = re.compile(r"_([a-z0-9])")


def camel_key(key: str) -> str:
    """A key as the schemas spell it: snake_case to camelCase, and the channels' `_id` to `id`,
    so one schema accepts both spellings that integrations send."""
    return "id" if key == "_id" else _CAMEL_BOUNDARY.sub(lambda m: m.group(1).upper(), key)


class MalformedJSON(ValueError):
    """A body that is not JSON at all (as opposed to JSON with a wrong field)."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """One JSON object, its keys in camelCase (`_id` read as `id`); a key given twice is refused."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        name = camel_key(key)
        if name in out:
            spelled = f"{key!r} and another spelling of it" if name != key else f"{key!r} twice"
            raise FieldError(name, f"{name}: the object has {spelled}; send each field once")
        out[name] = value
    return out


def _no_constant(name: str) -> None:
    raise MalformedJSON(f"the body is not valid JSON: {name} is not a JSON number")


def _check_values(value: Any) -> None:
    """No string with a NUL character, and nothing nested deeper than MAX_DEPTH (iteratively)."""
    pending: list[tuple[Any, str, int]] = [(value, "", 1)]
    while pending:
        current, path, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise FieldError(path or None, f"{path or 'the body'}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(current, str):
            if "\x00" in current:
                raise FieldError(path or None, f"{path or 'the body'}: NUL characters are not allowed")
        elif isinstance(current, dict):
            for key, inner in current.items():
                if "\x00" in key:
                    raise FieldError(path or None, f"{path or 'the body'}: NUL characters are not allowed in keys")
                pending.append((inner, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(current, list):
            pending.extend((inner, f"{path}[{index}]", depth + 1) for index, inner in enumerate(current))


def parse_json(body: bytes) -> Any:
    """The body as JSON with camelCase keys, or MalformedJSON / FieldError."""
    if not body.strip():
        raise MalformedJSON("the body is empty; send a JSON object")
    try:
        value = json.loads(body, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except RecursionError as exc:
        raise MalformedJSON(f"the body is nested deeper than {MAX_DEPTH} levels") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedJSON(f"the body is not valid JSON: {exc}") from exc
    _check_values(value)
    return value


def _body_type(handler: HTTPRouteHandler) -> Any:
    """The type the handler's `data` is converted to (None when it takes no body)."""
    # Litestar parses each handler's signature once and keeps it on the handler.
    data = handler.parsed_fn_signature.parameters.get("data")
    return data.annotation if data is not None else None


def check_strictly(value: Any, body_type: Any) -> Any:
    """`value` converted to `body_type` with no coercion at all; a mismatch names its field.

    The converted value is what the handler gets: Litestar's own (lenient) conversion passes an
    instance of the right type through unchanged, so a body is converted once.
    """
    if body_type is None:
        return value
    try:
        return msgspec.convert(value, body_type, strict=True)
    except msgspec.ValidationError as exc:
        field, detail = _field_of(str(exc))
        raise FieldError(field, f"{field}: {detail}" if field else detail) from exc


def _field_of(message: str) -> tuple[str | None, str]:
    """msgspec's "Expected `int`, got `str` - at `$.items[0].quantity`" as (field, detail)."""
    found = _MSGSPEC_PATH.search(message)
    field = found.group("path") if found else ""
    detail = message[: found.start()] if found else message
    # A check of the schema's own (__post_init__) names its field first: "items[1].status: ...".
    own = re.match(r"^(?P<field>[\w\[\].]+): (?P<detail>.*)$", detail)
    if own:
        return own.group("field"), own.group("detail")
    missing = re.search(r"missing required field `(?P<name>[^`]+)`", detail)
    if missing:
        field = f"{field}.{missing.group('name')}" if field else missing.group("name")
    return field or None, detail


class KitchenRequest(Request[Any, Any, Any]):
    """JSON bodies may use snake_case or camelCase keys and `_id` for `id`, as channels send them;
    in every other way they are read strictly (see the module's docstring)."""

    async def json(self) -> Any:
        content_type = self.headers.get("content-type", "")
        if not _JSON_TYPE.match(content_type):
            raise HTTPException(
                status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                detail=f"send the body as application/json (Content-Type was {content_type[:80]!r})",
            )
        value = parse_json(await self.body())
        handler = self.scope.get("route_handler")
        if isinstance(handler, HTTPRouteHandler):
            return check_strictly(value, _body_type(handler))
        return value


def html(body: str, status_code: int = HTTP_200_OK, headers: dict[str, str] | None = None) -> Response[str]:
    """An HTML page or fragment (Litestar adds the charset)."""
    return Response(body, media_type="text/html", status_code=status_code, headers=headers)


def csrf_token(request: Request[Any, Any, Any]) -> str:
    """The CSRF token of this browser, for forms and the meta tag that htmx requests read."""
    token = ScopeState.from_scope(request.scope).csrf_token
    return token if isinstance(token, str) else ""
