"""Logs: readable text by default, JSON lines when `KITCHEN_LOG_FORMAT=json`, each with its request id.

A request's id comes from its `X-Request-ID` header (when it is a sane one) or is made here; it
is sent back in the same header and carried by every line logged while the request is served,
so a proxy's, the app's and a channel's logs can be joined on it. Lines never carry a payload's
customer data: a status change logs the order id, who made it and how long it took.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.logging import LoggingConfig
from litestar.logging.config import default_handlers
from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
# What a request id sent by a client may be: a proxy's or a channel's id, never anything a log
# reader would mistake for a line of its own.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# The attributes every LogRecord has; anything else on a record was given as `extra=` (uvicorn's
# `color_message` is its message again, with terminal colours).
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id", "color_message"}


class RequestIdFilter(logging.Filter):
    """Puts the request id of the request being served (or "-") on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        return True


class TextFormatter(logging.Formatter):
    """`2026-12-04 18:02:11 INFO kitchen.orders [req-id] status change order=... by=... took_ms=...`"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = _extra(record)
        return text + "".join(f" {key}={value}" for key, value in extra.items()) if extra else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and the `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            **_extra(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _RECORD_FIELDS}


FORMATTERS = {"text": TextFormatter, "json": JsonFormatter}


def logging_config(level: str, log_format: str) -> LoggingConfig:
    """The app's logging: Litestar's queue handler (logging never blocks a request) with our format."""
    formatter = f"{__name__}.{FORMATTERS[log_format].__name__}"
    return LoggingConfig(
        root={"level": level.upper(), "handlers": ["queue_listener"]},
        formatters={"standard": {"()": formatter}},
        filters={"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        handlers={"queue_listener": {**default_handlers["queue_listener"], "filters": ["request_id"]}},
        log_exceptions="never",  # errors.py logs what matters, without echoing client errors
    )


def uvicorn_log_config(log_format: str) -> dict[str, Any]:
    """uvicorn's own lines (start-up, access log) in the same format as the app's."""
    formatter = {"()": f"{__name__}.{FORMATTERS[log_format].__name__}"}
    handler = {"class": "logging.StreamHandler", "formatter": "kitchen", "filters": ["request_id"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"kitchen": formatter},
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "handlers": {"default": {**handler, "stream": "ext://sys.stderr"}, "access": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


class RequestCount:
    """HTTP requests this process has begun: how busy it is (the webhook worker yields to them)."""

    started = 0


class RequestIds:
    """ASGI middleware: the request's id, from its header or new, in the context and the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        RequestCount.started += 1
        sent = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        this_id = sent if _SANE_ID.fullmatch(sent) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = this_id
            await send(message)

        token = request_id.set(this_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
