"""Who may use the kitchen: integrations (API keys), managers (passwords) and paired tablets."""

from __future__ import annotations

from datetime import datetime

from advanced_alchemy.base import IdentityBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

NAME_LENGTH = 80
# What a paired device is for: a cook's tablet uses the boards; a pickup screen by the door
# only shows couriers which orders are being prepared and which are ready (/pickup).
BOARD_ROLE = "board"
PICKUP_ROLE = "pickup"
DEVICE_ROLES = (BOARD_ROLE, PICKUP_ROLE)
ROLE_LENGTH = 16


class ApiKey(IdentityBase):
    """A delivery channel's credential. Only the key's SHA-256 is kept: keys are long and random,
    so a slow hash adds nothing, and every API request must check one quickly."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, so a manager can tell keys apart without seeing them.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class Manager(IdentityBase):
    __tablename__ = "managers"

    username: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    # scrypt with a per-password salt: "scrypt$n$r$p$salt$hash".
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class Tablet(IdentityBase):
    """A device paired by a manager: a cook's tablet (the boards) or a pickup screen (/pickup),
    by its `role`, until it is unpaired."""

    __tablename__ = "tablets"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    role: Mapped[str] = mapped_column(String(ROLE_LENGTH), default=BOARD_ROLE, server_default=BOARD_ROLE)
    paired_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    paired_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    unpaired_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class PairingCode(IdentityBase):
    """A short code a manager hands to a tablet; single use, minutes to live."""

    __tablename__ = "pairing_codes"

    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    # Wrong codes tried while this one was live, from any address: at PAIRING_GUESSES it is burnt.
    failed_guesses: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # The role the device paired with this code gets.
    role: Mapped[str] = mapped_column(String(ROLE_LENGTH), default=BOARD_ROLE, server_default=BOARD_ROLE)


class BrowserSession(IdentityBase):
    """A signed-in manager's or a paired tablet's browser. The cookie holds a random token; only
    its SHA-256 is kept here, so signing out, unpairing or a new password ends a session at once,
    on every process, by ending its row."""

    __tablename__ = "browser_sessions"
    __table_args__ = (Index("ix_browser_sessions_subject", "kind", "subject_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "manager" or "tablet" (a pickup screen is a tablets row too)
    subject_id: Mapped[int] = mapped_column(Integer)  # the manager's or the tablet's id
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class FailedAttempt(IdentityBase):
    """One failed sign-in or pairing attempt, by what it is counted against (an address, a
    username, every pairing code at once): the throttles read these, so every process sees them."""

    __tablename__ = "failed_attempts"
    __table_args__ = (Index("ix_failed_attempts_key_at", "key", "at"),)

    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
