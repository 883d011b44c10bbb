"""The change feed's channel and the access notices it carries besides order changes.

Order changes, ended sessions and revoked API keys all travel on one channel: on PostgreSQL a
NOTIFY that every app process LISTENs to (sent inside the transaction that made the change, so
only a committed change is heard), on the embedded SQLite default Litestar's in-memory channels.
"""

from __future__ import annotations

import msgspec
from litestar.channels import ChannelsPlugin
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

FEED_CHANNEL = "kitchen_orders"


class EndedSessions(msgspec.Struct, tag="ended_sessions"):
    """Sessions that ended (sign-out, an unpaired tablet, a new password): their streams close."""

    ids: list[int]


class RevokedKeys(msgspec.Struct, tag="revoked_keys"):
    """API keys were revoked: every process forgets the keys it had checked."""


Notice = EndedSessions | RevokedKeys
_NOTICES: msgspec.json.Decoder[Notice] = msgspec.json.Decoder(Notice)


def is_notice(raw: bytes) -> bool:
    return raw.startswith(b'{"type":"')


def decode_notice(raw: bytes) -> Notice:
    return _NOTICES.decode(raw)


def encode_notice(notice: Notice) -> bytes:
    return msgspec.json.encode(notice)


def end_sessions(channels: ChannelsPlugin, ids: list[int]) -> None:
    """Tell every process that these sessions ended (after their commit): their streams close."""
    if ids:
        channels.publish(encode_notice(EndedSessions(ids)), FEED_CHANNEL)


async def notify_in_transaction(session: AsyncSession, notice: Notice) -> None:
    """PostgreSQL: send `notice` with the session's transaction (delivered only if it commits)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_notify(:channel, :message)"),
            {"channel": FEED_CHANNEL, "message": encode_notice(notice).decode()},
        )
