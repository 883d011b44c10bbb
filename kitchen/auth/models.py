"""Who may use the kitchen: integrations (API keys), managers (passwords) and paired tablets."""

from __future__ import annotations

from datetime import datetime

from advanced_alchemy.base import IdentityBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

NAME_LENGTH = 80


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
    """A kitchen tablet paired by a manager; it may use the boards until it is unpaired."""

    __tablename__ = "tablets"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
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
