"""browser sessions and failed attempts: sessions that end at once, throttles every process sees

Revision ID: e4b8d2f6a1c3
Revises: d1a7c3e5b9f2
Create Date: 2026-12-03 10:00:00+00:00

Cookies now name a row of `browser_sessions` (by the SHA-256 of a random token) instead of
carrying a signed id: signing out, unpairing a tablet and a new password end sessions at once,
on every process. Cookies issued before this revision name no row: managers sign in again and
tablets are paired again (a manager's code, once per tablet). `failed_attempts` holds the
throttles' counts, shared by every process, and a pairing code counts the wrong guesses made
while it was live (`failed_guesses`), so that it is burnt after a few, from whatever addresses.
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

# revision identifiers, used by Alembic.
revision = "e4b8d2f6a1c3"
down_revision = "d1a7c3e5b9f2"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


# No autocommit_block here: every revision runs inside the one migration transaction,
# so a failure on PostgreSQL rolls the whole upgrade back.
def upgrade() -> None:
    op.create_table(
        "browser_sessions",
        sa.Column("id", _ID, sa.Identity(always=False, start=1, increment=1), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("ended_at", DateTimeUTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_browser_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_browser_sessions_token_hash")),
    )
    op.create_index("ix_browser_sessions_subject", "browser_sessions", ["kind", "subject_id"], unique=False)
    op.create_table(
        "failed_attempts",
        sa.Column("id", _ID, sa.Identity(always=False, start=1, increment=1), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failed_attempts")),
    )
    op.create_index("ix_failed_attempts_key_at", "failed_attempts", ["key", "at"], unique=False)
    with op.batch_alter_table("pairing_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_guesses", sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("pairing_codes", schema=None) as batch_op:
        batch_op.drop_column("failed_guesses")
    op.drop_index("ix_failed_attempts_key_at", table_name="failed_attempts")
    op.drop_table("failed_attempts")
    op.drop_index("ix_browser_sessions_subject", table_name="browser_sessions")
    op.drop_table("browser_sessions")
