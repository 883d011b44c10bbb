"""What a history must be, checked in the stored rows: `kitchen history check`.

The database refuses the worst breaks itself (a stay that ends before it begins, two open stays
in one stream); this finds every other way a stream of server-stamped rows can disagree with
itself or with its order, for operators of databases written before those constraints (the
migration `history integrity` repairs what it can and leaves the rest for this to report).

A stream is one order's status rows, or one item's; channel-reported rows are not part of it.
In the order written (by id), a sound stream has:
- `at` that never goes back (`at_goes_back`);
- each stay ended exactly when the next began (`ended_elsewhere`), and no negative stay
  (`ends_before_it_begins`);
- exactly one open stay, its last (`open_stays`: how many there are, when not one);
- no status written twice in a row (`repeated_status`);
- as its last status, the status its order or item has now (`current_status_differs`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import click
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from kitchen.db import create_engine
from kitchen.settings import Settings

# (history table, stream column, table of its owners, how the report names the stream)
STREAMS = (
    ("order_status_events", "order_id", "orders", "order"),
    ("item_status_events", "item_id", "order_items", "item"),
)


@dataclass(frozen=True, slots=True)
class Fault:
    stream: str  # "order" or "item"
    owner: str  # the order's id, or the item's
    order_id: str
    fault: str
    detail: str


def _faults_sql(table: str, stream: str, owners: str) -> str:
    order_of = "o.id" if owners == "orders" else "o.order_id"
    return f"""
WITH written AS (
    SELECT {stream} AS owner, id, status, at, ended_at,
           lag(at) OVER (PARTITION BY {stream} ORDER BY id) AS previous_at,
           lag(status) OVER (PARTITION BY {stream} ORDER BY id) AS previous_status,
           lead(at) OVER (PARTITION BY {stream} ORDER BY id) AS next_at,
           row_number() OVER (PARTITION BY {stream} ORDER BY id DESC) AS from_last
    FROM {table} WHERE source <> 'channel'
), faults AS (
    SELECT owner, 'at_goes_back' AS fault, 'row ' || id AS detail FROM written WHERE at < previous_at
    UNION ALL
    SELECT owner, 'ends_before_it_begins', 'row ' || id FROM written WHERE ended_at < at
    UNION ALL
    SELECT owner, 'ended_elsewhere', 'row ' || id FROM written
    WHERE CASE WHEN next_at IS NULL THEN ended_at IS NOT NULL
               WHEN ended_at IS NULL THEN TRUE
               ELSE ended_at <> next_at END
    UNION ALL
    SELECT owner, 'repeated_status', 'row ' || id || ': ' || status FROM written WHERE status = previous_status
    UNION ALL
    SELECT owner, 'open_stays', CAST(count(CASE WHEN ended_at IS NULL THEN 1 END) AS VARCHAR(20)) FROM written
    GROUP BY owner HAVING count(CASE WHEN ended_at IS NULL THEN 1 END) <> 1
    UNION ALL
    SELECT owner, 'current_status_differs', 'history ends ' || w.status || ', now ' || o.status
    FROM written AS w JOIN {owners} AS o ON o.id = w.owner
    WHERE w.from_last = 1 AND w.status <> o.status
)
SELECT CAST(faults.owner AS VARCHAR(64)), {order_of}, faults.fault, faults.detail
FROM faults JOIN {owners} AS o ON o.id = faults.owner
ORDER BY 2, 1, 3, 4
"""


async def find_faults(conn: AsyncConnection, limit: int | None = None) -> list[Fault]:
    """Every broken invariant of every stream (at most `limit` per kind of stream)."""
    found: list[Fault] = []
    for table, stream, owners, name in STREAMS:
        sql = _faults_sql(table, stream, owners) + (f" LIMIT {int(limit)}" if limit is not None else "")
        rows = await conn.execute(text(sql))
        found += [Fault(name, str(owner), order_id, fault, detail) for owner, order_id, fault, detail in rows]
    return found


@click.group(name="history", help="The status history of orders and items.")
def history_group() -> None:
    pass


@history_group.command(name="check", help="Report streams that break an invariant of the history; exit 1 if any.")
@click.option("--limit", default=1000, show_default=True, help="Report at most this many of each kind of stream.")
def check_command(limit: int) -> None:
    async def run() -> list[Fault]:
        engine = create_engine(Settings.from_env())
        try:
            async with engine.connect() as conn:
                return await find_faults(conn, limit)
        finally:
            await engine.dispose()

    faults = asyncio.run(run())
    for fault in faults:
        click.echo(f"{fault.stream} {fault.owner} of order {fault.order_id}: {fault.fault} ({fault.detail})")
    if faults:
        raise click.ClickException(f"{len(faults)} faults in the history")
    click.echo("history ok: every stream runs forward, with one open stay, as its order or item is now")
