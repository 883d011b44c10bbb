"""What the database writes per new order and per status change: WAL bytes, WAL syncs, rows.

    .venv/bin/python bench/wal_bench.py            # fresh PostgreSQL db kitchen_wal_bench, a worker on :8031
    .venv/bin/python bench/wal_bench.py --json /tmp/wal.json

1. One uvicorn worker on a fresh PostgreSQL database (bench/api_bench.py's `start_server`).
2. Four short wrk runs (bench/api.lua): POST /api/orders (a new 3-item order per request) and
   PATCH /api/orders/{id}/items/P1/status (a real change per request), each twice:
   - "after checkpoint": a CHECKPOINT just before the run, so the first change to every page
     also writes the whole page to the WAL (a full-page image, FPI): the expensive end;
   - "mid-cycle": no checkpoint since the pages were last written (the PATCH run's orders are
     seeded after the last checkpoint), so few FPIs: the cheap end.
   A server between checkpoints (checkpoint_timeout, 5 min by default) lies between the two.
3. Before and after each run: pg_stat_wal (wal_records, wal_fpi, wal_bytes, wal_write, wal_sync),
   pg_current_wal_lsn(), pg_stat_bgwriter's buffer writes and checkpoints, and pg_stat_database's
   xact_commit, tup_inserted, tup_updated, tup_deleted for the bench database; during the run
   the bench database's connections (pg_stat_activity), every 0.2 s.
4. After the first and the last run, a CHECKPOINT, and the data pages it wrote (pg_stat_bgwriter.buffers_checkpoint):
   every page the run dirtied, written once, the data files' share of the IOPS.
5. Prints per request: WAL bytes, FPIs, WAL syncs (with synchronous_commit on, one fsync per
   commit group: the WAL's IOPS), commits, rows inserted / updated, checkpoint pages.

pg_stat_wal and the WAL position are the whole cluster's: WAL that other databases write during a
run (a test suite next to the benchmark) would count as ours. When the pg_wal directory is
readable (run as root or postgres) the script also reads the run's WAL with pg_waldump and counts
only the records of the bench database's transactions and relations: "own WAL". The two agree
on a quiet server; "others' WAL" says how far they did not. Row counts are per database anyway.

It only talks to loopback addresses and stops the server it started by its PID.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import api_bench  # noqa: E402  # the API bench's server, seeding and wrk driver

# Backends flush their statistics at most once a second, and an idle one within 10 s (PostgreSQL
# 15's PGSTAT_IDLE_INTERVAL): wait that long before reading the counters after a run.
STATS_FLUSH_SECONDS = 11.0
WAL_COLUMNS = ("wal_records", "wal_fpi", "wal_bytes", "wal_buffers_full", "wal_write", "wal_sync")
BGWRITER_COLUMNS = ("checkpoints_timed", "checkpoints_req", "buffers_checkpoint", "buffers_clean", "buffers_backend")
DB_COLUMNS = ("xact_commit", "tup_inserted", "tup_updated", "tup_deleted")
RECORD = re.compile(r"len \(rec/tot\):\s*\d+/\s*(\d+), tx:\s*(\d+),")
RELATION = re.compile(r"rel \d+/(\d+)/\d+")


def snapshot(args: argparse.Namespace) -> dict[str, Any]:
    row = api_bench._psql(
        args,
        args.db_name,
        "SELECT concat_ws('|', "
        + ", ".join(f"w.{c}" for c in WAL_COLUMNS)
        + ", "
        + ", ".join(f"b.{c}" for c in BGWRITER_COLUMNS)
        + ", "
        + ", ".join(f"d.{c}" for c in DB_COLUMNS)
        + ", pg_current_wal_lsn(), pg_current_wal_lsn() - '0/0'::pg_lsn)"
        " FROM pg_stat_wal w, pg_stat_bgwriter b, pg_stat_database d WHERE d.datname = current_database()",
    )
    values = row.split("|")
    names = (*WAL_COLUMNS, *BGWRITER_COLUMNS, *DB_COLUMNS)
    out: dict[str, Any] = {n: float(v) for n, v in zip(names, values, strict=False)}
    out["lsn"] = values[len(names)]
    out["lsn_bytes"] = int(float(values[len(names) + 1]))
    return out


class ConnectionSampler(threading.Thread):
    """The bench database's connections (pg_stat_activity) every 0.2 s while a run lasts."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(daemon=True)
        self.args, self.stop = args, threading.Event()
        self.counts: list[tuple[int, int]] = []

    def run(self) -> None:
        query = (
            "SELECT count(*) FILTER (WHERE pid <> pg_backend_pid()),"
            " count(*) FILTER (WHERE pid <> pg_backend_pid() AND state = 'active')"
            f" FROM pg_stat_activity WHERE datname = '{self.args.db_name}'"
        )
        while not self.stop.wait(0.2):
            try:
                total, active = api_bench._psql(self.args, "postgres", query).split("|")
                self.counts.append((int(total), int(active)))
            except subprocess.CalledProcessError:
                pass


def own_wal(args: argparse.Namespace, start: str, end: str, db_oid: str) -> dict[str, int] | None:
    """Bytes, records and FPIs of the WAL between two positions that belong to the bench database.

    A record is ours when it names a relation of that database, or when its transaction wrote one
    (its commit record names none). Checkpoint and running-transactions records are nobody's.
    """
    if args.waldump is None or not Path(args.pg_wal).is_dir():
        return None
    dump = subprocess.run(
        [args.waldump, "-p", args.pg_wal, "-s", start, "-e", end],
        capture_output=True,
        text=True,
        check=False,
    )
    records: list[tuple[int, int, bool, bool]] = []  # (total length, xid, names our database, has FPI)
    our_xids: set[int] = set()
    for line in dump.stdout.splitlines():
        match = RECORD.search(line)
        if match is None:
            continue
        length, xid = int(match.group(1)), int(match.group(2))
        ours = any(oid == db_oid for oid in RELATION.findall(line))
        if ours and xid:
            our_xids.add(xid)
        records.append((length, xid, ours, "FPW" in line))
    mine = [r for r in records if r[2] or (r[1] and r[1] in our_xids)]
    return {
        "records_all": len(records),
        "bytes_all": sum(r[0] for r in records),
        "records": len(mine),
        "bytes": sum(r[0] for r in mine),
        "fpi_records": sum(1 for r in mine if r[3]),
        "transactions": len(our_xids),
    }


@dataclass
class Run:
    kind: str  # post / patch
    phase: str  # after checkpoint / mid-cycle
    requests: int = 0
    written: int = 0  # orders created / item changes written
    rps: float = 0.0
    p99_ms: float = 0.0
    delta: dict[str, float] = field(default_factory=dict)
    own: dict[str, int] | None = None
    connections_max: int = 0
    active_max: int = 0
    checkpoint_pages: float | None = None  # data pages the CHECKPOINT right after the run wrote
    ok: bool = True
    command: str = ""

    def per(self, key: str) -> float:
        return self.delta.get(key, 0.0) / max(self.written, 1)


def measure(
    args: argparse.Namespace,
    url: str,
    kind: str,
    phase: str,
    prefix: str,
    count: int,
    pid: int,
    db_oid: str,
    checkpoint_after: bool = False,
) -> Run:
    host, port = api_bench.loopback(url)
    if phase == "after checkpoint":
        api_bench._psql(args, args.db_name, "CHECKPOINT")
    time.sleep(STATS_FLUSH_SECONDS)
    before = snapshot(args)
    sampler = ConnectionSampler(args)
    sampler.start()
    result = api_bench.run_wrk(url, kind, prefix, count, args, args.duration, pid)
    sampler.stop.set()
    sampler.join()
    time.sleep(STATS_FLUSH_SECONDS)
    after = snapshot(args)
    own = own_wal(args, before["lsn"], after["lsn"], db_oid)  # before a checkpoint recycles the WAL
    checkpoint_pages = None
    if checkpoint_after:
        # The data-file writes the run caused: a checkpoint now writes every page it dirtied, once.
        api_bench._psql(args, args.db_name, "CHECKPOINT")
        checkpoint_pages = snapshot(args)["buffers_checkpoint"] - after["buffers_checkpoint"]
    if kind == "post":
        written = int(api_bench._psql(args, args.db_name, f"SELECT count(*) FROM orders WHERE id LIKE '{prefix}-%'"))
    else:
        ids = [f"{prefix}-p-{i}" for i in range(count)]
        written = api_bench.count_item_changes(host, port, ids)
    delta = {k: after[k] - before[k] for k in before if k != "lsn"}
    run = Run(
        kind=kind,
        phase=phase,
        requests=result.requests,
        written=written,
        rps=result.rps,
        p99_ms=result.p99_ms,
        delta=delta,
        own=own,
        connections_max=max((c[0] for c in sampler.counts), default=0),
        active_max=max((c[1] for c in sampler.counts), default=0),
        checkpoint_pages=checkpoint_pages,
        ok=result.ok and result.non_2xx == 0,
        command=result.command,
    )
    if delta["checkpoints_timed"] + delta["checkpoints_req"] > 0 and phase == "mid-cycle":
        run.phase += " (a checkpoint happened during it)"
    return run


def report(runs: list[Run]) -> None:
    header = (
        f"{'run':<28} {'req/s':>6} {'written':>7} {'WAL B':>7} {'own B':>7} {'others B':>8} {'FPI':>5}"
        f" {'syncs':>5} {'commits':>7} {'ins':>5} {'upd':>5} {'conns':>5} {'active':>6} {'ckpt pg':>7}"
    )
    print("\nPer request written (an order created, or an item status change):")
    print(header)
    print("-" * len(header))
    for r in runs:
        own = r.own
        own_b = f"{own['bytes'] / max(r.written, 1):>7.0f}" if own else f"{'-':>7}"
        others = f"{(own['bytes_all'] - own['bytes']) / max(r.written, 1):>8.0f}" if own else f"{'-':>8}"
        print(
            f"{r.kind.upper() + ' ' + r.phase:<28} {r.rps:>6.0f} {r.written:>7} {r.per('lsn_bytes'):>7.0f} {own_b}"
            f" {others} {r.per('wal_fpi'):>5.2f} {r.per('wal_sync'):>5.2f} {r.per('xact_commit'):>7.2f}"
            f" {r.per('tup_inserted'):>5.1f} {r.per('tup_updated'):>5.1f} {r.connections_max:>5} {r.active_max:>6}"
            + (f" {r.checkpoint_pages / max(r.written, 1):>7.3f}" if r.checkpoint_pages is not None else f" {'-':>7}")
        )
    print(
        "WAL B = bytes of WAL (pg_current_wal_lsn() difference, whole cluster); own B = those of the bench"
        " database's records (pg_waldump); others B = the rest of the records (other databases, checkpoints);"
        " FPI = full-page images (pg_stat_wal.wal_fpi); syncs = WAL fsyncs (pg_stat_wal.wal_sync); commits and"
        " ins/upd = pg_stat_database of the bench database; conns/active = most connections to it seen during the"
        " run (pg_stat_activity, all / active); ckpt pg = data pages (8 KiB) a CHECKPOINT just after the run wrote"
        " (pg_stat_bgwriter.buffers_checkpoint): each page the run dirtied, once."
    )
    for r in runs:
        d = r.delta
        print(
            f"{r.kind} {r.phase}: {r.requests} answered, {r.written} written; WAL {d['lsn_bytes'] / 1e6:.1f} MB"
            f" ({d['wal_records']:.0f} records, {d['wal_fpi']:.0f} FPI), {d['wal_write']:.0f} writes,"
            f" {d['wal_sync']:.0f} syncs, {d['wal_buffers_full']:.0f} wal_buffers_full;"
            f" buffers written: checkpoint {d['buffers_checkpoint']:.0f}, bgwriter {d['buffers_clean']:.0f},"
            f" backends {d['buffers_backend']:.0f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8031", help="where the worker listens (loopback only)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (10)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--patch-orders", type=int, default=2000, help="seeded orders per PATCH run (2000)")
    parser.add_argument("--db-name", default="kitchen_wal_bench", help="dropped and created anew")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument("--pg-wal", help="the server's pg_wal directory (default: data_directory/pg_wal)")
    parser.add_argument("--waldump", default="/usr/lib/postgresql/15/bin/pg_waldump", help="'' to skip")
    parser.add_argument("--server-log", default="/tmp/kitchen-wal-bench-server.log")
    parser.add_argument("--quiet-wait", type=float, default=30, help="wait up to this many s for an idle machine")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    args.source, args.api_key = None, None
    if not args.waldump or not Path(args.waldump).exists():
        args.waldump = None
    host, port = api_bench.loopback(args.url)
    if api_bench.ipaddress.ip_address(api_bench.socket.gethostbyname(args.pg_host)).is_loopback is False:
        raise SystemExit("--pg-host must be a loopback address")
    url = f"http://{host}:{port}"

    proc = api_bench.start_server(args, host, port)
    api_bench.Client.api_key = args.api_key
    runs: list[Run] = []
    try:
        if args.pg_wal is None:
            args.pg_wal = str(Path(api_bench._psql(args, args.db_name, "SHOW data_directory")) / "pg_wal")
        db_oid = api_bench._psql(args, args.db_name, "SELECT oid FROM pg_database WHERE datname = current_database()")
        settings = api_bench._psql(
            args,
            args.db_name,
            "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings WHERE name IN"
            " ('synchronous_commit', 'wal_sync_method', 'full_page_writes', 'wal_compression', 'checkpoint_timeout',"
            " 'max_wal_size', 'max_connections', 'shared_buffers', 'wal_level')",
        )
        print(f"# {settings}", flush=True)
        if args.waldump is None or not Path(args.pg_wal).is_dir():
            print(f"# {args.pg_wal} not readable (or no pg_waldump): no own-WAL figures", flush=True)
        stamp = f"wal{int(time.time())}"
        # Warm-up (not measured): the pool, the statement caches, the first pages of every table.
        warm = [f"{stamp}w-p-{i}" for i in range(max(4 * args.connections, 256))]
        api_bench.seed(host, port, warm)
        api_bench.run_wrk(url, "post", f"{stamp}w", 0, args, 3, proc.pid)
        api_bench.run_wrk(url, "patch", f"{stamp}w", len(warm), args, 3, proc.pid)
        cold = f"{stamp}c"
        api_bench.seed(host, port, [f"{cold}-p-{i}" for i in range(args.patch_orders)])
        api_bench.vacuum_database(args)
        # A checkpoint after a run would make the next one an "after checkpoint" run: only after
        # the first (the second begins with one anyway) and the last.
        runs.append(measure(args, url, "post", "after checkpoint", f"{cold}n", 0, proc.pid, db_oid, True))
        runs.append(measure(args, url, "patch", "after checkpoint", cold, args.patch_orders, proc.pid, db_oid))
        # Seeded after the last checkpoint: their pages have had their full-page image already.
        mid = f"{stamp}m"
        api_bench.seed(host, port, [f"{mid}-p-{i}" for i in range(args.patch_orders)])
        runs.append(measure(args, url, "post", "mid-cycle", f"{mid}n", 0, proc.pid, db_oid))
        runs.append(measure(args, url, "patch", "mid-cycle", mid, args.patch_orders, proc.pid, db_oid, True))
    finally:
        api_bench.stop_server(proc)
    report(runs)
    print("\nwrk command lines:")
    for r in runs:
        print(f"  {r.command}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=2))
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
