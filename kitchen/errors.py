"""One JSON error shape for every failure, and the one place domain errors become HTTP.

Every error body is `{"status", "code", "detail"}` plus `field` when one input is at fault,
the current and requested status when a transition is refused, and the lines a PLU is on when
it names more than one.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Redirect
from litestar.types import ExceptionHandlersMap
from msgspec import Struct

from kitchen.auth.guards import NotForThisDevice, OpenInstead, SignInRequired
from kitchen.db import RETRY_AFTER_SECONDS, is_database_unavailable
from kitchen.fields import FieldError
from kitchen.gate import RequestRefused
from kitchen.http import MalformedJSON
from kitchen.orders.service import AmbiguousPlu, DuplicateOrderConflict, ItemNotFound, LineNotFound, OrderNotFound
from kitchen.orders.status import TransitionNotAllowed, UnknownStatus
from kitchen.pages import page

log = logging.getLogger("kitchen.errors")


class ErrorBody(Struct, rename="camel", omit_defaults=True, kw_only=True):
    status: int
    code: str
    detail: str
    field: str | None = None
    current_status: str | None = None
    requested_status: str | None = None
    lines: list[int] | None = None


_DESCRIPTIONS = {
    401: "No valid API key: send 'Authorization: Bearer <key>'",
    400: "Malformed request: unreadable JSON, a query parameter of the wrong type, or a control character"
    " (NUL, newline, ...) in the path or the query",
    404: "No such order, or no such item (PLU) or line in it",
    409: "The status rules forbid the change, the order exists with other content, or the PLU is on"
    " several lines of the order (`ambiguous_plu`, with the `lines`)",
    413: "Request body larger than KITCHEN_MAX_BODY_BYTES",
    422: "The body parsed but a field is missing, of the wrong type or out of range",
    503: "The database cannot be reached",
}


def ERROR_RESPONSES(*codes: int) -> dict[int, ResponseSpec]:  # noqa: N802  # reads like a constant at use
    """OpenAPI entries for the error statuses an operation can answer with."""
    return {
        code: ResponseSpec(data_container=ErrorBody, description=_DESCRIPTIONS[code], generate_examples=False)
        # Any request can be refused before routing (a control character in its path or query).
        for code in sorted({*codes, 400, 401, 503})
    }


def error_response(status: int, code: str, detail: str, **extra: Any) -> Response[ErrorBody]:
    """The error body; `extra` are ErrorBody's optional fields (field, lines, ...)."""
    return Response(
        ErrorBody(status=status, code=code, detail=detail, **extra),
        status_code=status,
        media_type=MediaType.JSON,
    )


def on_validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[ErrorBody]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    first: dict[str, Any] = extra[0] if extra and isinstance(extra[0], dict) else {}
    message = str(first.get("message") or exc.detail)
    if message == "'data'":  # Litestar found no body at all to read `data` from
        return error_response(400, "malformed_json", "the body is empty; send a JSON object")
    key = first.get("key")
    field = key if key and key != "data" else None
    detail = message
    # A check in __post_init__ names its own field: "items[1].status: unknown item status ...".
    own_field = re.match(r"^(?P<field>[\w\[\].]+): (?P<detail>.*)$", detail)
    if own_field:
        field, detail = own_field.group("field"), own_field.group("detail")
    missing = re.search(r"missing required field `(?P<name>[^`]+)`", detail)
    if missing:
        field = f"{field}.{missing.group('name')}" if field else missing.group("name")
    if first.get("source") == "body":
        return error_response(422, "invalid_field", detail, field=field)
    return error_response(400, "invalid_parameter", detail, field=field or first.get("key"))


def on_http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    if exc.status_code == 400 and exc.detail.startswith("JSON is malformed"):
        return error_response(400, "malformed_json", exc.detail)
    codes = {
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "body_too_large",
        429: "too_many_requests",
    }
    response = error_response(exc.status_code, codes.get(exc.status_code, "http_error"), exc.detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def on_request_refused(_: Request[Any, Any, Any], exc: RequestRefused) -> Response[ErrorBody]:
    code = "invalid_path" if exc.field == "path" else "invalid_parameter"
    return error_response(400, code, exc.detail, field=exc.field)


def on_not_for_this_device(request: Request[Any, Any, Any], exc: NotForThisDevice) -> Response[Any]:
    context = {"device": exc.device, "kind": exc.kind, "home": exc.home}
    return page(request, "auth/not_for_this_device.html", context, status_code=403)


def on_open_instead(_: Request[Any, Any, Any], exc: OpenInstead) -> Response[Any]:
    return Redirect(exc.to, status_code=303)


def on_sign_in_required(_: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    return Redirect(exc.to, status_code=303)


def on_malformed_json(_: Request[Any, Any, Any], exc: MalformedJSON | SerializationException) -> Response[ErrorBody]:
    return error_response(400, "malformed_json", str(exc))


def on_transition_refused(_: Request[Any, Any, Any], exc: TransitionNotAllowed) -> Response[ErrorBody]:
    return error_response(
        409,
        "transition_not_allowed",
        str(exc),
        current_status=exc.current,
        requested_status=exc.requested,
        field=f"items[{exc.line - 1}].status" if exc.line is not None else "status",
    )


def on_unknown_status(_: Request[Any, Any, Any], exc: UnknownStatus) -> Response[ErrorBody]:
    return error_response(422, "unknown_status", str(exc), field="status")


def on_field_error(_: Request[Any, Any, Any], exc: FieldError) -> Response[ErrorBody]:
    if exc.parameter:
        return error_response(400, "invalid_parameter", str(exc), field=exc.field)
    return error_response(422, "invalid_field", str(exc), field=exc.field)


def on_order_not_found(_: Request[Any, Any, Any], exc: OrderNotFound) -> Response[ErrorBody]:
    return error_response(404, "order_not_found", str(exc))


def on_item_not_found(_: Request[Any, Any, Any], exc: ItemNotFound) -> Response[ErrorBody]:
    return error_response(404, "item_not_found", str(exc), field="plu")


def on_line_not_found(_: Request[Any, Any, Any], exc: LineNotFound) -> Response[ErrorBody]:
    return error_response(404, "line_not_found", str(exc), field="line")


def on_ambiguous_plu(_: Request[Any, Any, Any], exc: AmbiguousPlu) -> Response[ErrorBody]:
    return error_response(409, "ambiguous_plu", str(exc), field="plu", lines=exc.lines)


def on_duplicate_order(_: Request[Any, Any, Any], exc: DuplicateOrderConflict) -> Response[ErrorBody]:
    return error_response(409, "duplicate_order", str(exc))


def on_unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    if is_database_unavailable(exc):
        log.warning("database unavailable during %s %s: %s", request.method, request.url.path, exc)
        response = error_response(503, "database_unavailable", "the database cannot be reached; try again")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    # The traceback goes to the log, never to the client.
    log.exception("unexpected error during %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "something went wrong on our side; it has been logged")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ValidationException: on_validation_error,
    SerializationException: on_malformed_json,
    MalformedJSON: on_malformed_json,
    RequestRefused: on_request_refused,
    HTTPException: on_http_error,
    SignInRequired: on_sign_in_required,
    NotForThisDevice: on_not_for_this_device,
    OpenInstead: on_open_instead,
    TransitionNotAllowed: on_transition_refused,
    UnknownStatus: on_unknown_status,
    FieldError: on_field_error,
    OrderNotFound: on_order_not_found,
    ItemNotFound: on_item_not_found,
    LineNotFound: on_line_not_found,
    AmbiguousPlu: on_ambiguous_plu,
    DuplicateOrderConflict: on_duplicate_order,
    Exception: on_unexpected_error,
}
