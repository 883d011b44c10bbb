"""How far PostgreSQL's LISTEN/NOTIFY carries the change feed: commits/s with a NOTIFY, by listeners.

    .venv/bin/python bench/notify_bench.py                    # listeners 0, 4, 16, 64; 10 s each
    .venv/bin/python bench/notify_bench.py --listeners 0 16 --seconds 20

Every app process keeps one connection that LISTENs to the change feed, and every status change
sends one NOTIFY (96 bytes) in its transaction: so the feed's cost is commits with a NOTIFY,
heard by one listener per process. This runs pgbench (8 clients) for `--seconds` with a small
transaction like a change's (an INSERT, with and without `pg_notify`), while N asyncpg
connections LISTEN and count what they hear, and prints commits/s, notifications heard per
listener, and the notify queue's use (`pg_notification_queue_usage()`) at the end.

It talks only to the PostgreSQL server on 127.0.0.1 and drops its database (kitchen_notify_bench)
when done.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
CHANNEL = "kitchen_changes"
PAYLOAD = "x" * 96  # the size of an encoded change notice (kitchen/feed.py)
WRITE = f"INSERT INTO changes (at, body) VALUES (clock_timestamp(), '{PAYLOAD}');\n"
SCRIPTS = {
    "insert": f"BEGIN;\n{WRITE}COMMIT;\n",
    "insert + notify": f"BEGIN;\n{WRITE}SELECT pg_notify('{CHANNEL}', '{PAYLOAD}');\nCOMMIT;\n",
}


async def listen(dsn: str, count: int, heard: list[int], ready: asyncio.Event) -> list[asyncpg.Connection]:
    connections = []
    for n in range(count):
        conn = await asyncpg.connect(dsn)

        def hear(_conn: object, _pid: int, _channel: str, _payload: str, n: int = n) -> None:
            heard[n] += 1

        await conn.add_listener(CHANNEL, hear)
        connections.append(conn)
    ready.set()
    return connections


def pgbench(args: argparse.Namespace, script: str) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as file:
        file.write(script)
    command = [PGBENCH, "-h", args.host, "-U", "postgres", "-n", "-j", "2", "-f", file.name]
    out = subprocess.run(
        [*command, "-c", str(args.clients), "-T", str(args.seconds), args.db],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    Path(file.name).unlink()
    match = re.search(r"tps = ([\d.]+)", out)
    assert match, out
    return float(match.group(1))


async def run(args: argparse.Namespace) -> None:
    admin = await asyncpg.connect(host=args.host, user="postgres", database="postgres")
    await admin.execute(f"DROP DATABASE IF EXISTS {args.db}")
    await admin.execute(f"CREATE DATABASE {args.db}")
    dsn = f"postgresql://postgres@{args.host}/{args.db}"
    try:
        setup = await asyncpg.connect(dsn)
        await setup.execute("CREATE TABLE changes (id bigserial PRIMARY KEY, at timestamptz, body text)")
        print(f"pgbench -c {args.clients} -T {args.seconds}, payload {len(PAYLOAD)} bytes")
        print(f"{'script':<16} {'listeners':>9} {'commits/s':>10} {'heard/listener/s':>17} {'queue use':>10}")
        for name, script in SCRIPTS.items():
            for count in args.listeners:
                heard = [0] * count
                ready = asyncio.Event()
                connections = await listen(dsn, count, heard, ready)
                start = time.monotonic()
                tps = await asyncio.to_thread(pgbench, args, script)
                await asyncio.sleep(1)  # what is still on its way
                elapsed = time.monotonic() - start
                usage = await setup.fetchval("SELECT pg_notification_queue_usage()")
                per = sum(heard) / count / elapsed if count else 0.0
                print(f"{name:<16} {count:>9} {tps:>10.0f} {per:>17.0f} {usage:>10.6f}", flush=True)
                for conn in connections:
                    await conn.close()
                await setup.execute("TRUNCATE changes")
        await setup.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1", "localhost"])
    parser.add_argument("--db", default="kitchen_notify_bench")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--listeners", type=int, nargs="+", default=[0, 4, 16, 64])
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
