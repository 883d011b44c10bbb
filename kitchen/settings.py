"""Every KITCHEN_* setting, typed, with its default.

Values come from the environment, then from a `.env` file in the working directory;
the environment wins so that a deployment can override a checked-in `.env`.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PREFIX = "KITCHEN_"


def default_database_url() -> str:
    # An absolute path, so the app finds the same file whatever the working directory is.
    return f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'kitchen.sqlite3'}"


def default_secret_key() -> str:
    """A key kept in var/secret_key, made on first use, so sessions survive restarts in development.
    Production sets KITCHEN_SECRET_KEY (the same on every host)."""
    path = PROJECT_ROOT / "var" / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


class SettingsError(ValueError):
    """A KITCHEN_* value that cannot be used."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # "text" (readable) or "json" (one JSON object per line, for a log collector).
    log_format: str = "text"
    timezone: str = "Europe/Helsinki"
    # Requests larger than this are refused with 413 before any parsing.
    max_body_bytes: int = 256 * 1024
    # The largest page GET /api/orders returns, whatever `limit` asks for.
    max_page_size: int = 200
    # Database connections one app process keeps (PostgreSQL): a request holds one from its
    # start to its answer, so fewer than the requests in flight makes the rest queue for them.
    db_pool_size: int = 32
    # Where the change feed's one LISTEN connection per process goes, when it must not go where the
    # pool does: behind PgBouncer in transaction mode (which cannot keep a LISTEN), point this at the
    # PostgreSQL server itself, or at a session-mode pool. Empty: the database URL.
    listen_database_url: str = ""
    # How long a request waits for a database connection before it fails with 503.
    db_pool_timeout_seconds: float = 5.0
    # The longest any one database statement may take (PostgreSQL's statement_timeout, and the
    # client's own timeout should the server not answer at all; SQLite: the wait for its write
    # lock). A tap not committed within a few seconds is better refused (503) than left hanging.
    db_statement_timeout_seconds: float = 5.0
    # A ticket turns amber this many seconds before its pickup time, red once it is late.
    amber_seconds: int = 300
    # Seconds to bag a ticket once its food is ready: a line's start-by is its pickup time minus
    # its prep time minus this, so every line of a ticket is ready when packing begins.
    pack_seconds: int = 120
    # A brand turns busy when a new typical order of it would take longer than this to be ready
    # (its quote, kitchen/load/quote.py), normal again under 80 % of it: channels are told, to
    # pause it or lengthen its promise.
    busy_quote_minutes: float = 45.0
    # How long a tablet may undo each of its own changes (its undo stack, orders/taps.py).
    undo_seconds: int = 60
    # An open or ready order this many hours past its pickup time was abandoned: it leaves the
    # boards (the API keeps it, and the dashboard counts it as abandoned).
    stale_hours: float = 6.0
    # Signs session cookies and CSRF tokens; keep it secret and the same on every app process.
    secret_key: str = field(default_factory=default_secret_key, repr=False)
    # Send cookies over HTTPS only; turn on wherever the app is served over HTTPS.
    cookie_secure: bool = False
    # Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed
    # (comma-separated IPs or networks, as uvicorn's --forwarded-allow-ips); none by default, so
    # a client cannot pick the address the sign-in throttles count it under.
    trusted_proxies: str = ""
    # A connection whose request headers have not all arrived this long after it opened (or
    # after its request began) is closed: a client sending a byte a second holds nothing for long.
    header_timeout_seconds: float = 10.0
    # An idle keep-alive connection is closed after this long.
    keep_alive_seconds: float = 5.0
    # How long a stopping process lets requests in flight finish (open streams are closed).
    shutdown_seconds: float = 5.0
    # Webhooks (kitchen/webhooks): one request's timeout; the first retry's wait, doubled each time up
    # to the longest wait (each with up to half of it as jitter); attempts before an event is dead.
    webhook_timeout_seconds: float = 5.0
    webhook_retry_seconds: float = 2.0
    webhook_retry_max_seconds: float = 900.0
    webhook_attempts: int = 12
    # How often each process looks for orders that became late (pickup passed, not READY).
    webhook_late_seconds: float = 10.0
    # The token a Prometheus scraper sends (Authorization: Bearer ...) for GET /metrics; empty: off.
    metrics_token: str = field(default="", repr=False)
    debug: bool = False

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"KITCHEN_TIMEZONE: unknown time zone {self.timezone!r}") from exc
        if self.log_format not in ("text", "json"):
            raise SettingsError(f"KITCHEN_LOG_FORMAT must be text or json, not {self.log_format!r}")
        if self.max_body_bytes < 1024:
            raise SettingsError("KITCHEN_MAX_BODY_BYTES must be at least 1024")
        if self.undo_seconds < 30:
            raise SettingsError("KITCHEN_UNDO_SECONDS must be at least 30: cooks need time to notice a mistake")
        if not 0.5 <= self.stale_hours <= 24 * 31:
            raise SettingsError("KITCHEN_STALE_HOURS must be between 0.5 and 744 (31 days)")
        if not 0 <= self.pack_seconds <= 3600:
            raise SettingsError("KITCHEN_PACK_SECONDS must be between 0 and 3600")
        if not 1 <= self.busy_quote_minutes <= 600:
            raise SettingsError("KITCHEN_BUSY_QUOTE_MINUTES must be between 1 and 600")
        if len(self.secret_key) < 32:
            raise SettingsError("KITCHEN_SECRET_KEY must be at least 32 characters")
        if self.db_pool_size < 1:
            raise SettingsError("KITCHEN_DB_POOL_SIZE must be at least 1")
        if not 1 <= self.webhook_attempts <= 100:
            raise SettingsError("KITCHEN_WEBHOOK_ATTEMPTS must be between 1 and 100")
        if self.listen_database_url and not self.listen_database_url.startswith(("postgresql:", "postgresql+")):
            raise SettingsError("KITCHEN_LISTEN_DATABASE_URL must be a postgresql:// URL (or empty)")
        if self.max_page_size < 1:
            raise SettingsError("KITCHEN_MAX_PAGE_SIZE must be at least 1")
        for name in (
            "header_timeout_seconds",
            "keep_alive_seconds",
            "shutdown_seconds",
            "db_pool_timeout_seconds",
            "db_statement_timeout_seconds",
            "webhook_timeout_seconds",
            "webhook_retry_seconds",
            "webhook_retry_max_seconds",
            "webhook_late_seconds",
        ):
            if getattr(self, name) <= 0:
                raise SettingsError(f"KITCHEN_{name.upper()} must be more than 0")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def stale_after(self) -> timedelta:
        return timedelta(hours=self.stale_hours)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, dotenv_path: Path | None = None) -> Settings:
        """Read settings from `env` (default: os.environ) layered over the `.env` file."""
        layered: dict[str, str | None] = dict(dotenv_values(dotenv_path or Path.cwd() / ".env"))
        layered.update(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = layered.get(PREFIX + spec.name.upper())
            if raw is None or raw == "":
                continue
            values[spec.name] = _coerce(spec.name, spec.type, raw)
        return cls(**values)


def _coerce(name: str, type_name: Any, raw: str) -> Any:
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        if type_name == "bool":
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}{name.upper()}: cannot read {raw!r} as {type_name}") from exc
    return raw
