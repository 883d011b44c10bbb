"""Load test: the kitchen at a steady rush for `--minutes`, with boards connected (issue #15).

    .venv/bin/python bench/load_test.py                  # 10 minutes at the defaults below
    .venv/bin/python bench/load_test.py --help

The design peak of a 1,000-kitchen chain is about 17 new orders and 200 status changes a second
(docs/sizing.md). On this 2-core machine, which also runs PostgreSQL and this load generator, the
test runs a fixed fraction of that (`--share`, 10 % by default: 1.7 orders/s and 20 changes/s)
for `--minutes`, open loop (requests start on schedule, whether or not earlier ones answered),
with `--boards` SSE boards over expo and four stations, and reports: errors (any answer but the
one expected, any stream that ended), the p50/p99/max of new orders, of taps (line PATCHes) and of
the board events (from a tap's start to its event at each board), and each worker's RSS after the
warm-up and at the end. It exits 1 when a request failed or a stream ended.

Each order is cooked like a real one: its lines are moved one step at a time, in turn, a few
seconds apart, and it is picked up once every line is READY, so the open board stays the size of a
rush (`--open` orders). Traffic only ever goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import board_bench as bb  # the board bench's streams, server and database helpers

PEAK_ORDERS_PER_S = 17.0
PEAK_CHANGES_PER_S = 200.0
STATIONS = "expo:8,grill:4,fryer:4,cold:2,drinks:2"


@dataclass
class OpenOrder:
    payload: dict[str, Any]
    steps: list[tuple[int, str]]  # (line, status) still to do, in order
    next_at: float = 0.0


@dataclass
class Results:
    create_ms: list[float] = field(default_factory=list)
    tap_ms: list[float] = field(default_factory=list)
    changes: list[tuple[str, float]] = field(default_factory=list)  # (order id, start)
    errors: Counter[str] = field(default_factory=Counter)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def worker_pids(pid: int) -> list[int]:
    """The uvicorn workers of `kitchen run` (its children), or the process itself with one worker."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children] or [pid]


def new_order(index: int, run: str, now: datetime) -> OpenOrder:
    payload = bb.order_payload(index, run, now)
    payload["pickupTime"] = (now + timedelta(minutes=20)).isoformat().replace("+00:00", "Z")
    lines = range(1, len(payload["items"]) + 1)
    steps = [(line, status) for status in ("PREPARING", "READY") for line in lines]
    return OpenOrder(payload, steps)


async def run_load(args: argparse.Namespace, api: httpx.AsyncClient, results: Results) -> None:
    """Orders at `share` of 17/s, and as many taps as make `share` of 200 changes/s."""
    order_rate = PEAK_ORDERS_PER_S * args.share
    change_rate = PEAK_CHANGES_PER_S * args.share
    rng = random.Random(7)
    run = f"lt{int(time.time())}"
    open_orders: list[OpenOrder] = []
    tasks: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    end = started + args.minutes * 60
    next_order = next_change = started
    index = 0

    async def send(label: str, expected: int, method: str, url: str, body: dict[str, Any]) -> float | None:
        """One request: its time in ms, or None (counted as an error) when it failed."""
        t0 = time.perf_counter()
        try:
            response = await api.request(method, url, json=body)
        except httpx.HTTPError as exc:
            results.errors[f"{label}: {type(exc).__name__}"] += 1
            return None
        if response.status_code != expected:
            results.errors[f"{label} {response.status_code}"] += 1
            return None
        return (time.perf_counter() - t0) * 1000

    async def create(order: OpenOrder) -> None:
        took = await send("POST", 201, "POST", "/api/orders", order.payload)
        if took is not None:
            results.create_ms.append(took)
            order.next_at = time.perf_counter() + 2.0  # the first tap a little after it shows
            open_orders.append(order)

    async def tap(order: OpenOrder, line: int, status: str) -> None:
        order_id = order.payload["id"]
        results.changes.append((order_id, time.perf_counter()))
        took = await send("PATCH", 200, "PATCH", f"/api/orders/{order_id}/lines/{line}/status", {"status": status})
        if took is not None:
            results.tap_ms.append(took)

    async def last_tap_then_pickup(order: OpenOrder, line: int, status: str) -> None:
        """The order's last line is ready: the courier takes it, after the tap has answered."""
        await tap(order, line, status)
        await asyncio.sleep(1.0)
        await send("pickup", 200, "PATCH", f"/api/orders/{order.payload['id']}/status", {"status": "PICKED_UP"})

    def spawn(coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    while (now := time.perf_counter()) < end:
        if now >= next_order or len(open_orders) < args.open // 2:
            spawn(create(new_order(index, run, datetime.now(UTC))))
            index += 1
            next_order += rng.expovariate(order_rate)
        if now >= next_change:
            ready = [o for o in open_orders if o.next_at <= now and o.steps]
            if ready:
                order = rng.choice(ready)
                line, status = order.steps.pop(0)
                # The next step of this order comes later: no two changes of one order race.
                order.next_at = now + 1.5
                if order.steps:
                    spawn(tap(order, line, status))
                else:
                    open_orders.remove(order)
                    spawn(last_tap_then_pickup(order, line, status))
            next_change += rng.expovariate(change_rate)
        await asyncio.sleep(max(0.0, min(next_order, next_change) - time.perf_counter()))
    await asyncio.gather(*tasks, return_exceptions=True)


def event_latencies(results: Results, boards: list[bb.Board]) -> tuple[list[float], int]:
    """Per (tap, board): its first event for the order at or after the tap's start (ms), or a miss."""
    latencies: list[float] = []
    misses = 0
    for order_id, t0 in results.changes:
        for board in boards:
            times = board.tickets.get(order_id, [])
            k = bisect.bisect_left(times, t0)
            if k < len(times):
                latencies.append((times[k] - t0) * 1000)
            else:
                misses += 1
    return latencies, misses


def start_kitchen(args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`kitchen run`, the production command, with `--workers`."""
    kitchen = str(Path(sys.executable).parent / "kitchen")
    command = [kitchen, "run", "--host", bb.HOST, "--port", str(args.port), "--workers", str(args.workers)]
    print(f"# server: {' '.join(command)}", flush=True)
    log = open(args.server_log, "wb")  # noqa: SIM115  # as long as the server lives
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


async def main(args: argparse.Namespace) -> int:
    info = bb.machine_info(args)
    print("# machine: " + "; ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    bb.psql(args, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
    bb.psql(args, f'CREATE DATABASE "{args.db_name}"')
    env = dict(os.environ)
    env.update(
        KITCHEN_DATABASE_URL=bb.database_url(args),
        KITCHEN_LOG_LEVEL="WARNING",
        KITCHEN_SECRET_KEY=bb.BENCH_SECRET_KEY,
    )
    kitchen = str(Path(sys.executable).parent / "kitchen")
    bb.sh([kitchen, "database", "upgrade", "--no-prompt"], env=env)
    api_key = bb.sh([kitchen, "api-keys", "create", "load-test"], env=env).strip().splitlines()[-1]
    bb.TABLET_COOKIE[0] = await bb.paired_tablet_cookie(env["KITCHEN_DATABASE_URL"])
    server = start_kitchen(args, env)
    results = Results()
    try:
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        headers = {"Authorization": f"Bearer {api_key}"}
        async with httpx.AsyncClient(
            base_url=f"http://{bb.HOST}:{args.port}", timeout=30, limits=limits, headers=headers
        ) as api:
            await bb.wait_ready(api, server)
            await bb.seed(api, 0, "seed")  # brands and menus
            args.boards, args.stations = sum(int(p.split(":")[1]) for p in STATIONS.split(",")), STATIONS
            paths = ["/board/stream" + ("" if s == "expo" else f"?station={s}") for s in bb.board_stations(args)]
            connected = await asyncio.gather(*(bb.connect_board(n, args.port, p, 10, 2.0) for n, p in enumerate(paths)))
            boards = [board for board, _ in connected]
            await asyncio.sleep(5)  # warm up
            pids = worker_pids(server.pid)
            rss_start = {pid: rss_kib(pid) for pid in pids}
            meter = bb.CpuMeter(server.pid, args.db_name)
            meter.start()
            print(
                f"# {args.minutes} min at {args.share:.0%} of the peak: "
                f"{PEAK_ORDERS_PER_S * args.share:.1f} orders/s, {PEAK_CHANGES_PER_S * args.share:.0f} changes/s, "
                f"{len(boards)} boards, workers {pids}",
                flush=True,
            )
            await run_load(args, api, results)
            await asyncio.sleep(3)  # the last events
            cpu = meter.stop()
            rss_end = {pid: rss_kib(pid) for pid in pids}
            for pid in pids:
                cpu_pid = bb.process_cpu_seconds(pid)
                print(f"# worker {pid}: CPU {cpu_pid:.0f} s in all", flush=True)
            ended = [f"board {b.number}: {b.error}" for b in boards if b.error]
            bb.close_boards(boards)
    finally:
        bb.stop_server(server)
        bb.psql(args, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')

    latencies, misses = event_latencies(results, boards)
    print()
    print(bb.TABLE_HEAD)
    print("-" * len(bb.TABLE_HEAD))
    bb.row("POST /api/orders (new order)", bb.summary(results.create_ms))
    bb.row("PATCH .../lines/{line}/status (a tap)", bb.summary(results.tap_ms))
    bb.row(f"tap -> its event at each of {len(boards)} boards", bb.summary(latencies), 250.0)
    print()
    seconds = args.minutes * 60
    orders_per_s, taps_per_s = len(results.create_ms) / seconds, len(results.tap_ms) / seconds
    print(f"measured rates: {orders_per_s:.1f} new orders/s, {taps_per_s:.1f} taps/s")
    print(
        f"orders {len(results.create_ms)}, taps {len(results.tap_ms)}, board events matched {len(latencies)}, "
        f"missed {misses}; errors {dict(results.errors)}; streams ended {ended}"
    )
    print(f"load: {bb.fmt_cpu(cpu)}")
    for pid in pids:
        print(
            f"RSS worker {pid}: {rss_start[pid] / 1024:.1f} MiB after warm-up, {rss_end[pid] / 1024:.1f} MiB at the end"
        )
    if args.json:
        figures = {
            "machine": info,
            "args": vars(args),
            "create_ms": bb.summary(results.create_ms),
            "tap_ms": bb.summary(results.tap_ms),
            "event_ms": bb.summary(latencies),
            "misses": misses,
            "errors": dict(results.errors),
            "streams_ended": ended,
            "cpu": cpu,
            "rss_kib": {str(p): [rss_start[p], rss_end[p]] for p in pids},
        }
        bb.write_json(args.json, figures)
    return 1 if results.errors or ended or misses else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--share", type=float, default=0.1, help="fraction of the design peak to run")
    parser.add_argument("--open", type=int, default=60, help="open orders kept on the boards")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--port", type=int, default=8003)
    parser.add_argument("--db-name", default="kitchen_load_test")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument("--server-log", default="/tmp/kitchen-load-test-server.log")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--source", default=None)
    sys.exit(asyncio.run(main(parser.parse_args())))
