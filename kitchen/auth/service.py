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
from kitchen.auth.models import NAME_LENGTH, ApiKey, BrowserSession, Manager, PairingCode, Tablet
from kitchen.auth.secrets import digest, hash_password, new_api_key, new_pairing_code, verify_password
from kitchen.clock import Clock, system_clock
from kitchen.feed import RevokedKeys, notify_in_transaction
from kitchen.fields import FieldError

PAIRING_CODE_LIFETIME = timedelta(minutes=10)
# Wrong codes a live pairing code may see, from any number of addresses, before it is burnt: a
# guesser then has at most 20 tries against a million values (1 in 50,000) per code.
PAIRING_GUESSES = 20
SESSION_LIFETIMES = {"manager": timedelta(hours=12), "tablet": timedelta(days=400)}
_NAME = re.compile(rf"^[\w .@-]{{1,{NAME_LENGTH}}}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request; `actor` is what the history records for their changes."""

    kind: str  # "api-key", "manager" or "tablet"
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
        return Principal("manager", manager.id, manager.username)

    async def set_password(self, username: str, password: str) -> list[int]:
        """A manager's new password; every session of theirs ends (returns the ended ids)."""
        if len(password) < 10:
            raise FieldError("password", "a manager's password has at least 10 characters")
        manager = await self.session.scalar(select(Manager).where(Manager.username == username.strip()))
        if manager is None:
            raise FieldError("username", f"no manager named {username!r}")
        manager.password_hash = await asyncio.to_thread(hash_password, password)
        ended = await self._end_sessions(BrowserSession.kind == "manager", BrowserSession.subject_id == manager.id)
        await self.session.commit()
        return ended

    # ---- browser sessions ----
    async def open_session(self, principal: Principal) -> tuple[str, Principal]:
        """A new session for a signed-in manager or a newly paired tablet: its cookie token, once."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        record = BrowserSession(
            token_hash=digest(token),
            kind=principal.kind,
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
        return Principal(row.kind, row.subject_id, row.name, row.id) if row is not None else None

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
        """Use a pairing code; None when it is unknown, used, expired or burnt.

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

    async def unpair_tablet(self, tablet_id: int) -> list[int]:
        """The tablet may use nothing any more: its sessions end (returns their ids)."""
        tablet = await self.session.get(Tablet, tablet_id)
        if tablet is None:
            return []
        if tablet.unpaired_at is None:
            tablet.unpaired_at = self.clock()
        ended = await self._end_sessions(BrowserSession.kind == "tablet", BrowserSession.subject_id == tablet_id)
        await self.session.commit()
        return ended


# What no password hashes to: a sign-in with an unknown name checks against it, for equal timing.
_NOBODY = hash_password("not a manager " + secrets.token_hex(8))

# A session that lasts, and who it is: a manager, or a tablet that is still paired.
_SESSION = (
    select(
        BrowserSession.id,
        BrowserSession.kind,
        BrowserSession.subject_id,
        func.coalesce(Manager.username, Tablet.name).label("name"),
    )
    .outerjoin(Manager, and_(BrowserSession.kind == "manager", Manager.id == BrowserSession.subject_id))
    .outerjoin(
        Tablet,
        and_(BrowserSession.kind == "tablet", Tablet.id == BrowserSession.subject_id, Tablet.unpaired_at.is_(None)),
    )
    .where(
        BrowserSession.token_hash == bindparam("token_hash"),
        BrowserSession.ended_at.is_(None),
        BrowserSession.expires_at > bindparam("now"),
        (Manager.id.is_not(None)) | (Tablet.id.is_not(None)),
    )
)
