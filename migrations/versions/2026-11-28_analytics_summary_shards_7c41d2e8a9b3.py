"""analytics summaries: a shard column in the primary key of the counters; one covering index per histogram

Revision ID: 7c41d2e8a9b3
Revises: 5f0c2a9d7e11
Create Date: 2026-11-28 04:20:00+00:00

Every status change adds to a few counter rows (a histogram bucket, a quarter hour, a customer).
Under load many changes add to the same row at once, and each waits for the one before it to
commit. With a shard in the key, concurrent changes add to different rows; the figures add the
shards up (they already sum rows). Existing rows become shard 0.

On PostgreSQL the histogram's primary key now carries the counts itself (INCLUDE), so the figures
still read buckets from the index alone, and each change maintains one index there, not two.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "7c41d2e8a9b3"
down_revision = "5f0c2a9d7e11"
branch_labels = None
depends_on = None

KEYS = {
    "analytics_histograms": ("span", "measure", "period", "brand_id", "key", "label", "second"),
    "analytics_quarter_hours": ("quarter", "brand_id"),
    "analytics_customers": ("account", "brand_id"),
}


# No autocommit_block here: every revision runs inside the one migration transaction,
# so a failure on PostgreSQL rolls the whole upgrade back.
def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("analytics_histograms", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_histograms_buckets")
    for table, key in KEYS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("shard", sa.SmallInteger(), server_default=sa.text("0"), nullable=False))
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            if not (postgres and table == "analytics_histograms"):
                batch_op.create_primary_key(f"pk_{table}", [*key, "shard"])
    if postgres:
        columns = ", ".join((*KEYS["analytics_histograms"], "shard"))
        op.execute(
            f"ALTER TABLE analytics_histograms ADD CONSTRAINT pk_analytics_histograms PRIMARY KEY ({columns})"
            " INCLUDE (count, total)"
        )


# How the shards of one key add up to the single row the old key allows.
FOLD = {
    "analytics_histograms": "sum(count) AS count, sum(total) AS total",
    "analytics_quarter_hours": "sum(received) AS received, sum(ready) AS ready",
    "analytics_customers": "sum(orders) AS orders, min(first_order_at) AS first_order_at, max(last_order_at) AS last_order_at",
}
VALUES = {
    "analytics_histograms": "count, total",
    "analytics_quarter_hours": "received, ready",
    "analytics_customers": "orders, first_order_at, last_order_at",
}


def downgrade() -> None:
    for table, key in KEYS.items():
        # Fold every key's shards into one row first, so nothing is lost and the old key is unique.
        columns = ", ".join(key)
        op.execute(f"CREATE TEMPORARY TABLE folded AS SELECT {columns}, {FOLD[table]} FROM {table} GROUP BY {columns}")
        op.execute(f"DELETE FROM {table}")
        op.execute(f"INSERT INTO {table} ({columns}, {VALUES[table]}) SELECT * FROM folded")
        op.execute("DROP TABLE folded")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            batch_op.create_primary_key(f"pk_{table}", list(key))
            batch_op.drop_column("shard")
    with op.batch_alter_table("analytics_histograms", schema=None) as batch_op:
        batch_op.create_index(
            "ix_analytics_histograms_buckets",
            list(KEYS["analytics_histograms"]),
            unique=False,
            postgresql_include=["count", "total"],
        )
