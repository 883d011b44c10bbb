"""history integrity: streams repaired, invariants enforced; duration buckets of bounded error, bumps apart

Revision ID: d1a7c3e5b9f2
Revises: 9e2b7f41c6d0
Create Date: 2026-12-03 08:00:00+00:00

Until this revision a change was stamped before it took the order's lock, so under concurrent
taps a change that waited was stamped earlier than the one it waited for, and its stay was
ended on the wrong row: streams with several open stays, stays that end before they begin.
The changes themselves were serialized by the lock, so the rows' ids are the order in which
they really happened. Each server-stamped stream (channel-reported rows are left as sent):
1. consecutive repeats of a status (the same status written twice in a row) are dropped: the
   first row of the run stays and its stay lasts until the next different status;
2. `at` becomes the running maximum by id: a change that waited for another is stamped no
   earlier than it (what the service does from now on);
3. `ended_at` becomes the next row's `at`, and the last row's is NULL (the stay it is in now).
A stream whose last status differs from its order's or item's current status cannot be
repaired from its rows; they are counted in the log (`kitchen history check` lists them).

Then the database enforces the invariants: CHECK (ended_at >= at) and one open server stay
per stream (a unique partial index). The summaries are rebuilt from the repaired history, with
the new duration buckets (`kitchen/analytics/buckets.py`), histograms that keep the smallest
and largest duration of each bucket, bumped items and orders apart from cooked ones, and ticket
times. The downgrade drops the constraints and rebuilds the summaries as they were; the repair
itself stays (the history it leaves is valid in the old schema too).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op
from frozen import summaries_baa23bde29f3, summaries_d1a7c3e5b9f2

# revision identifiers, used by Alembic.
revision = "d1a7c3e5b9f2"
down_revision = "9e2b7f41c6d0"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

STREAMS = {"order_status_events": "order_id", "item_status_events": "item_id"}
CURRENT = {"order_status_events": ("orders", "id"), "item_status_events": ("order_items", "id")}
SERVER = "source <> 'channel'"
OPEN_SERVER_STAY = "ended_at IS NULL AND source <> 'channel'"
STAY_ENDS_AFTER_IT_BEGINS = "ended_at IS NULL OR ended_at >= at"


def _repair(table: str, stream: str) -> None:
    op.execute(
        f"""
DELETE FROM {table} WHERE id IN (
    SELECT id FROM (
        SELECT id, status, lag(status) OVER (PARTITION BY {stream} ORDER BY id) AS previous
        FROM {table} WHERE {SERVER}
    ) AS written
    WHERE status = previous
)"""
    )
    op.execute(
        f"""
UPDATE {table} SET at = repaired.at
FROM (SELECT id, max(at) OVER (PARTITION BY {stream} ORDER BY id) AS at FROM {table} WHERE {SERVER}) AS repaired
WHERE {table}.id = repaired.id AND {table}.at <> repaired.at"""
    )
    op.execute(
        f"""
UPDATE {table} SET ended_at = repaired.next_at
FROM (
    SELECT id, lead(at) OVER (PARTITION BY {stream} ORDER BY id) AS next_at FROM {table} WHERE {SERVER}
) AS repaired
WHERE {table}.id = repaired.id
  AND CASE WHEN {table}.ended_at IS NULL THEN repaired.next_at IS NOT NULL
           WHEN repaired.next_at IS NULL THEN TRUE
           ELSE {table}.ended_at <> repaired.next_at END"""
    )
    owner, owner_id = CURRENT[table]
    disagreeing = op.get_bind().scalar(
        sa.text(
            f"""
SELECT count(*) FROM {owner} JOIN (
    SELECT {stream}, status, row_number() OVER (PARTITION BY {stream} ORDER BY id DESC) AS n
    FROM {table} WHERE {SERVER}
) AS last ON last.{stream} = {owner}.{owner_id} AND last.n = 1
WHERE last.status <> {owner}.status"""
        )
    )
    if disagreeing:
        log.warning(
            "%s: %s streams end in another status than their %s have now; left as they are"
            " (`kitchen history check` lists them)",
            table,
            disagreeing,
            owner,
        )


def _samples_table(bucket: str) -> None:
    op.create_table(
        "analytics_samples",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False, start=1, increment=1),
            nullable=False,
        ),
        sa.Column("measure", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), server_default="", nullable=False),
        sa.Column("brand_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column(bucket, sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_samples")),
    )


def _samples_index(bucket: str) -> None:
    op.create_index(
        "ix_analytics_samples_measure_created_at",
        "analytics_samples",
        ["measure", "created_at", "brand_id", "key", bucket],
        unique=False,
        postgresql_include=["label", "seconds"],
    )


def _histograms_table(bucket: str, extremes: bool) -> None:
    values = ["count", "total", "low", "high"] if extremes else ["count", "total"]
    op.create_table(
        "analytics_histograms",
        sa.Column("span", sa.String(length=5), nullable=False),
        sa.Column("measure", sa.String(length=16), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column(bucket, sa.Integer(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("total", sa.Double(), nullable=False),
        *([sa.Column("low", sa.Double(), nullable=False), sa.Column("high", sa.Double(), nullable=False)] * extremes),
        sa.PrimaryKeyConstraint(
            "span",
            "measure",
            "period",
            "brand_id",
            "key",
            "label",
            bucket,
            "shard",
            name="pk_analytics_histograms",
            postgresql_include=values,
        ),
    )


def _drop_summaries() -> None:
    op.drop_index("ix_analytics_samples_measure_created_at", table_name="analytics_samples")
    op.drop_table("analytics_samples")
    op.drop_table("analytics_histograms")


# No autocommit_block here: every revision runs inside the one migration transaction,
# so a failure on PostgreSQL rolls the whole upgrade back.
def upgrade() -> None:
    for table, stream in STREAMS.items():
        _repair(table, stream)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_check_constraint("stay_ends_after_it_begins", STAY_ENDS_AFTER_IT_BEGINS)
        op.create_index(
            f"uq_{table}_one_open_stay",
            table,
            [stream],
            unique=True,
            postgresql_where=sa.text(OPEN_SERVER_STAY),
            sqlite_where=sa.text(OPEN_SERVER_STAY),
        )
    _drop_summaries()
    _samples_table("bucket")
    _histograms_table("bucket", extremes=True)
    summaries_d1a7c3e5b9f2.backfill(op.get_bind())
    _samples_index("bucket")  # after the backfill: one sort instead of millions of insertions


def downgrade() -> None:
    for table in STREAMS:
        op.drop_index(f"uq_{table}_one_open_stay", table_name=table)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint("stay_ends_after_it_begins", type_="check")
    _drop_summaries()
    _samples_table("second")
    _histograms_table("second", extremes=False)
    summaries_baa23bde29f3.backfill(op.get_bind())
    _samples_index("second")
