"""Creating, checking and revoking credentials. Only hashes are stored; secrets are shown once."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, bindparam, func, literal_column, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.auth.keys import ApiKeyCache
from kitchen.auth.models import (
    BOARD_ROLE,
    DEVICE_ROLES,
    NAME_LENGTH,
    PICKUP_ROLE,
    ApiKey,
    BrowserSession,
    Manager,
    PairingCode,
    Tablet,
)
from kitchen.auth.secrets import digest, hash_password, new_api_key, new_pairing_code, verify_password
from kitchen.clock import Clock, system_clock
from kitchen.feed import RevokedKeys, notify_in_transaction
from kitchen.fields import FieldError

PAIRING_CODE_LIFETIME = timedelta(minutes=10)
# Wrong codes a live pairing code may see, from any number of addresses, before it is burnt: a
# guesser then has at most 20 tries against a million values (1 in 50,000) per code.
PAIRING_GUESSES = 20
# The kinds of principal: an integration, a manager, a cook's tablet, a pickup screen by the door.
API_KEY, MANAGER, TABLET, PICKUP_SCREEN = "api-key", "manager", "tablet", "pickup-screen"
# A paired device's principal by its role.
DEVICE_KINDS = {BOARD_ROLE: TABLET, PICKUP_ROLE: PICKUP_SCREEN}
SESSION_LIFETIMES = {MANAGER: timedelta(hours=12), TABLET: timedelta(days=400), PICKUP_SCREEN: timedelta(days=400)}
_NAME = re.compile(rf"^[\w .@-]{{1,{NAME_LENGTH}}}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request; `actor` is what the history records for their changes."""

    kind: str  # API_KEY, MANAGER, TABLET or PICKUP_SCREEN
    id: int
    name: str
    session_id: int | None = None  # a browser's session (managers and tablets)

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def device(self) -> str:
        """Which one it is, by id: names need not be unique (two tablets may be called "Grill")."""
        return f"{self.kind}:{self.id}"

    @property
    def is_device(self) -> bool:
        """A paired device (a cook's tablet or a pickup screen), as opposed to a person or an integration."""
        return self.kind in DEVICE_KINDS.values()


def session_kind(principal_kind: str) -> str:
    """What a browser session row names: a manager, or a tablets row (whatever the device's role)."""
    return MANAGER if principal_kind == MANAGER else TABLET


def device_principal(tablet_id: int, name: str, role: str) -> Principal:
    return Principal(DEVICE_KINDS.get(role, TABLET), tablet_id, name)


def _check_name(field: str, name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise FieldError(field, f"{field}: 1 to {NAME_LENGTH} letters, digits, spaces or . @ - _")
    return name


class Credentials:
    def __init__(self, session: AsyncSession, clock: Clock = system_clock, api_keys: ApiKeyCache | None = None) -> None:
        self.session = session
        self.clock = clock
        # This process's known keys, forgotten at once on a revocation made here (other
        # processes forget theirs when the revocation's NOTIFY reaches them).
        self.known_keys = api_keys

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
            raise FieldError("name", f"an API key named {name!r} exists already") from exc
        return record, key

    async def api_keys(self) -> Sequence[ApiKey]:
        return (await self.session.scalars(select(ApiKey).order_by(ApiKey.name))).all()

    async def revoke_api_key(self, name: str) -> ApiKey:
        record = await self.session.scalar(select(ApiKey).where(ApiKey.name == name))
        if record is None:
            raise FieldError("name", f"no API key named {name!r}")
        if record.revoked_at is None:
            record.revoked_at = self.clock()
            # Every process forgets the keys it had checked (kitchen/auth/keys.py), on commit.
            await notify_in_transaction(self.session, RevokedKeys())
            await self.session.commit()
            if self.known_keys is not None:
                self.known_keys.clear()
        return record

    # ---- managers ----
    async def create_manager(self, username: str, password: str) -> Manager:
        username = _check_name("username", username)
        if len(password) < 10:
            raise FieldError("password", "a manager's password has at least 10 characters")
        manager = Manager(username=username, password_hash=hash_password(password), created_at=self.clock())
        self.session.add(manager)
        try:
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            raise FieldError("username", f"a manager named {username!r} exists already") from exc
        return manager

    async def sign_in(self, username: str, password: str) -> Principal | None:
        manager = await self.session.scalar(select(Manager).where(Manager.username == username.strip()))
        # scrypt takes about 50 ms: in a worker thread, so the boards' streams on this process
        # do not stall while a manager signs in. Same work either way, so timing does not tell
        # which usernames exist.
        stored = manager.password_hash if manager is not None else _NOBODY
        if not await asyncio.to_thread(verify_password, password, stored) or manager is None:
            return None
        return Principal(MANAGER, manager.id, manager.username)

    async def set_password(self, username: str, password: str) -> list[int]:
        """A manager's new password; every session of theirs ends (returns the ended ids)."""
        if len(password) < 10:
            raise FieldError("password", "a manager's password has at least 10 characters")
        manager = await self.session.scalar(select(Manager).where(Manager.username == username.strip()))
        if manager is None:
            raise FieldError("username", f"no manager named {username!r}")
        manager.password_hash = await asyncio.to_thread(hash_password, password)
        ended = await self._end_sessions(BrowserSession.kind == MANAGER, BrowserSession.subject_id == manager.id)
        await self.session.commit()
        return ended

    # ---- browser sessions ----
    async def open_session(self, principal: Principal) -> tuple[str, Principal]:
        """A new session for a signed-in manager or a newly paired device: its cookie token, once."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        record = BrowserSession(
            token_hash=digest(token),
            kind=session_kind(principal.kind),
            subject_id=principal.id,
            created_at=now,
            expires_at=now + SESSION_LIFETIMES[principal.kind],
        )
        self.session.add(record)
        await self.session.commit()
        return token, Principal(principal.kind, principal.id, principal.name, record.id)

    async def session_principal(self, token: str) -> Principal | None:
        """Who a browser's session token is, while the session lasts (one indexed look-up)."""
        row = (await self.session.execute(_SESSION, {"token_hash": digest(token), "now": self.clock()})).first()
        if row is None:
            return None
        kind = MANAGER if row.kind == MANAGER else DEVICE_KINDS.get(row.role, TABLET)
        return Principal(kind, row.subject_id, row.name, row.id)

    async def session_lasts(self, session_id: int) -> bool:
        row = await self.session.scalar(
            select(literal_column("1")).where(
                BrowserSession.id == session_id,
                BrowserSession.ended_at.is_(None),
                BrowserSession.expires_at > self.clock(),
            )
        )
        return row is not None

    async def end_session(self, token: str) -> list[int]:
        """Sign out: the session ends on every process (returns the ended ids)."""
        ended = await self._end_sessions(BrowserSession.token_hash == digest(token))
        await self.session.commit()
        return ended

    async def _end_sessions(self, *conditions: ColumnElement[bool]) -> list[int]:
        result = await self.session.execute(
            update(BrowserSession)
            .where(*conditions, BrowserSession.ended_at.is_(None))
            .values(ended_at=self.clock())
            .returning(BrowserSession.id)
        )
        return [row[0] for row in result]

    async def manager(self, manager_id: int) -> Principal | None:
        manager = await self.session.get(Manager, manager_id)
        return Principal(MANAGER, manager.id, manager.username) if manager else None

    # ---- tablets and pickup screens ----
    async def create_pairing_code(self, manager: Principal, role: str = BOARD_ROLE) -> tuple[str, datetime]:
        """A code that pairs one device in `role`: a cook's tablet ("board") or a pickup screen ("pickup")."""
        if role not in DEVICE_ROLES:
            raise FieldError("role", f"role: a device is {' or '.join(map(repr, DEVICE_ROLES))}, not {role[:20]!r}")
        code = new_pairing_code()
        expires = self.clock() + PAIRING_CODE_LIFETIME
        self.session.add(PairingCode(code_hash=digest(code), created_by=manager.name, expires_at=expires, role=role))
        try:
            await self.session.commit()
        except IntegrityError:
            # The same six digits are live already (rare): draw again.
            await self.session.rollback()
            return await self.create_pairing_code(manager, role)
        return code, expires

    async def pair_tablet(self, code: str, name: str) -> Principal | None:
        """Use a pairing code: the device gets the code's role. None when it is unknown, used, expired or burnt.

        A wrong code counts against every live code, whoever sent it: a code that has seen
        PAIRING_GUESSES wrong ones is burnt, and the manager makes a new one.
        """
        name = _check_name("name", name)
        now = self.clock()
        live = [
            PairingCode.used_at.is_(None),
            PairingCode.expires_at > now,
            PairingCode.failed_guesses < PAIRING_GUESSES,
        ]
        pairing = await self.session.scalar(
            select(PairingCode).where(PairingCode.code_hash == digest(code.strip()), *live)
        )
        if pairing is None:
            await self.session.execute(
                update(PairingCode).where(*live).values(failed_guesses=PairingCode.failed_guesses + 1)
            )
            await self.session.commit()
            return None
        pairing.used_at = now
        tablet = Tablet(name=name, paired_by=pairing.created_by, paired_at=now, role=pairing.role)
        self.session.add(tablet)
        await self.session.commit()
        return device_principal(tablet.id, tablet.name, tablet.role)

    async def tablets(self) -> Sequence[Tablet]:
        statement = select(Tablet).where(Tablet.unpaired_at.is_(None)).order_by(Tablet.paired_at)
        return (await self.session.scalars(statement)).all()

    async def tablet(self, tablet_id: int) -> Principal | None:
        tablet = await self.session.get(Tablet, tablet_id)
        if tablet is None or tablet.unpaired_at is not None:
            return None
        return device_principal(tablet.id, tablet.name, tablet.role)

    async def unpair_tablet(self, tablet_id: int) -> list[int]:
        """The device may use nothing any more: its sessions end (returns their ids)."""
        tablet = await self.session.get(Tablet, tablet_id)
        if tablet is None:
            return []
        if tablet.unpaired_at is None:
            tablet.unpaired_at = self.clock()
        ended = await self._end_sessions(BrowserSession.kind == TABLET, BrowserSession.subject_id == tablet_id)
        await self.session.commit()
        return ended


# What no password hashes to: a sign-in with an unknown name checks against it, for equal timing.
_NOBODY = hash_password("not a manager " + secrets.token_hex(8))

# A session that lasts, and who it is: a manager, or a device (with its role) that is still paired.
_SESSION = (
    select(
        BrowserSession.id,
        BrowserSession.kind,
        BrowserSession.subject_id,
        func.coalesce(Manager.username, Tablet.name).label("name"),
        Tablet.role,
    )
    .outerjoin(Manager, and_(BrowserSession.kind == MANAGER, Manager.id == BrowserSession.subject_id))
    .outerjoin(
        Tablet,
        and_(BrowserSession.kind == TABLET, Tablet.id == BrowserSession.subject_id, Tablet.unpaired_at.is_(None)),
    )
    .where(
        BrowserSession.token_hash == bindparam("token_hash"),
        BrowserSession.ended_at.is_(None),
        BrowserSession.expires_at > bindparam("now"),
        (Manager.id.is_not(None)) | (Tablet.id.is_not(None)),
    )
)
