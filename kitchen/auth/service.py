"""Creating, checking and revoking credentials. Only hashes are stored; secrets are shown once."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.auth.models import NAME_LENGTH, ApiKey, Manager, PairingCode, Tablet
from kitchen.auth.secrets import digest, hash_password, new_api_key, new_pairing_code, verify_password
from kitchen.orders.service import Clock, system_clock

PAIRING_CODE_LIFETIME = timedelta(minutes=10)
_NAME = re.compile(rf"^[\w .@-]{{1,{NAME_LENGTH}}}$")


class CredentialError(ValueError):
    """A name, password or code that cannot be used, with the field it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request; `actor` is what the history records for their changes."""

    kind: str  # "api-key", "manager" or "tablet"
    id: int
    name: str

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.name}"


def _check_name(field: str, name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise CredentialError(field, f"{field}: 1 to {NAME_LENGTH} letters, digits, spaces or . @ - _")
    return name


class Credentials:
    def __init__(self, session: AsyncSession, clock: Clock = system_clock) -> None:
        self.session = session
        self.clock = clock

    # ---- API keys ----
    async def create_api_key(self, name: str) -> tuple[ApiKey, str]:
        """A new key for an integration; the key itself is returned once and never stored."""
        name = _check_name("name", name)
        key = new_api_key()
        record = ApiKey(name=name, key_hash=digest(key), prefix=key[:10], created_at=self.clock())
        self.session.add(record)
        try:
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            raise CredentialError("name", f"an API key named {name!r} exists already") from exc
        return record, key

    async def api_keys(self) -> Sequence[ApiKey]:
        return (await self.session.scalars(select(ApiKey).order_by(ApiKey.name))).all()

    async def revoke_api_key(self, name: str) -> ApiKey:
        record = await self.session.scalar(select(ApiKey).where(ApiKey.name == name))
        if record is None:
            raise CredentialError("name", f"no API key named {name!r}")
        if record.revoked_at is None:
            record.revoked_at = self.clock()
            await self.session.commit()
        return record

    # ---- managers ----
    async def create_manager(self, username: str, password: str) -> Manager:
        username = _check_name("username", username)
        if len(password) < 10:
            raise CredentialError("password", "a manager's password has at least 10 characters")
        manager = Manager(username=username, password_hash=hash_password(password), created_at=self.clock())
        self.session.add(manager)
        try:
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            raise CredentialError("username", f"a manager named {username!r} exists already") from exc
        return manager

    async def sign_in(self, username: str, password: str) -> Principal | None:
        manager = await self.session.scalar(select(Manager).where(Manager.username == username.strip()))
        if manager is None:
            # Same work either way, so timing does not tell which usernames exist.
            verify_password(password, hash_password("not a manager"))
            return None
        if not verify_password(password, manager.password_hash):
            return None
        return Principal("manager", manager.id, manager.username)

    async def manager(self, manager_id: int) -> Principal | None:
        manager = await self.session.get(Manager, manager_id)
        return Principal("manager", manager.id, manager.username) if manager else None

    # ---- tablets ----
    async def create_pairing_code(self, manager: Principal) -> tuple[str, datetime]:
        code = new_pairing_code()
        expires = self.clock() + PAIRING_CODE_LIFETIME
        self.session.add(PairingCode(code_hash=digest(code), created_by=manager.name, expires_at=expires))
        try:
            await self.session.commit()
        except IntegrityError:
            # The same six digits are live already (rare): draw again.
            await self.session.rollback()
            return await self.create_pairing_code(manager)
        return code, expires

    async def pair_tablet(self, code: str, name: str) -> Principal | None:
        """Use a pairing code; None when it is unknown, used or expired."""
        name = _check_name("name", name)
        now = self.clock()
        pairing = await self.session.scalar(
            select(PairingCode).where(
                PairingCode.code_hash == digest(code.strip()),
                PairingCode.used_at.is_(None),
                PairingCode.expires_at > now,
            )
        )
        if pairing is None:
            return None
        pairing.used_at = now
        tablet = Tablet(name=name, paired_by=pairing.created_by, paired_at=now)
        self.session.add(tablet)
        await self.session.commit()
        return Principal("tablet", tablet.id, tablet.name)

    async def tablets(self) -> Sequence[Tablet]:
        statement = select(Tablet).where(Tablet.unpaired_at.is_(None)).order_by(Tablet.paired_at)
        return (await self.session.scalars(statement)).all()

    async def tablet(self, tablet_id: int) -> Principal | None:
        tablet = await self.session.get(Tablet, tablet_id)
        if tablet is None or tablet.unpaired_at is not None:
            return None
        return Principal("tablet", tablet.id, tablet.name)

    async def unpair_tablet(self, tablet_id: int) -> None:
        tablet = await self.session.get(Tablet, tablet_id)
        if tablet is not None and tablet.unpaired_at is None:
            tablet.unpaired_at = self.clock()
            await self.session.commit()
