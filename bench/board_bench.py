"""Benchmark of the cook boards: live-update latency to 100 SSE boards, and full-board render time.

One command (see docs/benchmarks-board.md):

    bench/board_bench.sh                  # defaults: 100 boards, 200 changes, 200 open orders
    bench/board_bench.sh --help           # every option

It is a benchmark, not a test: it prints figures against the targets and exits 0 even when a
target is missed (exit 1 only when the run itself went wrong: a failed request, a missed event).

What it does, in order:

1. creates a fresh PostgreSQL database (`kitchen_board_bench` by default), migrates it with
   `kitchen database upgrade`, and starts one uvicorn worker on 127.0.0.1 (`--port`, 8002);
2. seeds through the API a brand catalog (PUT /api/brands/{id}) and `--orders` open orders
   (200 by default, 3 items each, spread over the brands, pickup times around now);
3. render: times `--render-runs` sequential GET /board (full page) and GET /board/tickets (the
   board fragment, which is also what a `resync` event carries), end to end over HTTP; then, in
   this process against the same database, `BoardRenderer.board_content(session, Station())`
   (built like kitchen/app.py builds it), with a breakdown into its queries and the Jinja render;
4. live: opens `--boards` SSE streams (GET /board/stream, every brand; `--pickup N` of them are
   pickup screens instead, GET /pickup/stream, with a pickup screen's session) and waits for each
   one's `resync`; then sends `--changes` sequential item status changes
   (PATCH /api/orders/{id}/items/{plu}/status, PREPARING and ORDERED alternately, so every one is
   a real change), spaced `--interval-ms` apart (uniformly jittered by +-`--jitter-ms`), after a few
   unmeasured warm-up changes. For every (change, board) pair the latency is the time from just
   before the PATCH is sent to the arrival at that board of its `ticket` event for that order (a
   pickup screen's: its `pickup` event).
   A pair with no such event within `--settle-s` after the last change is a miss;
5. prints a table (p50 / p99 / max against the targets, misses, PATCH response time, CPU used by
   the server, PostgreSQL and this client), stops the server by its PID and drops the database.

The client is one asyncio process (uvloop when available): the SSE streams are raw asyncio
protocols that de-chunk the body and look only at each event's name and its data-order-id, so
the load generator takes as little as possible of the CPU it shares with the server.
Traffic only ever goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
HOST = "127.0.0.1"
TARGET_EVENT_P99_MS = 250.0
TARGET_RENDER_MS = 50.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

BRANDS = [
    (
        "bench-burgers",
        "Burger Barn",
        "#c0392b",
        ["Classic Burger", "Cheese Burger", "Veggie Burger", "Fries", "Onion Rings"],
    ),
    ("bench-sushi", "Sushi Line", "#2471a3", ["Salmon Nigiri", "Maki Set", "Miso Soup", "Edamame", "Gyoza"]),
    (
        "bench-pizza",
        "Pizza Forno",
        "#d4ac0d",
        ["Margherita", "Pepperoni", "Quattro Formaggi", "Garlic Bread", "Tiramisu"],
    ),
    ("bench-bowls", "Green Bowls", "#1e8449", ["Poke Bowl", "Falafel Bowl", "Chicken Bowl", "Lemonade", "Brownie"]),
]
# Each brand's menu routes its five dishes, by position, to these stations with these prep times.
DISH_STATIONS = [("grill", 480), ("grill", 420), ("cold", 300), ("fryer", 240), ("drinks", 60)]


# --------------------------------------------------------------------------- statistics, CPU


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan"), "mean": float("nan")}
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p99": pct(values, 99),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def postgres_cpu_seconds(database: str) -> float:
    """CPU of the PostgreSQL backends connected to `database` (their title names it)."""
    total = 0.0
    needle = f" {database} ".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                if not stat.split("(", 1)[1].startswith("postgres)"):
                    continue
                if needle not in (entry / "cmdline").read_bytes():
                    continue
            except OSError:
                continue
            total += process_cpu_seconds(int(entry.name))
    return total


def wait_for_quiet(max_wait: float, threshold: float = 0.25) -> float:
    """Wait until the machine is nearly idle (under `threshold` of one core busy for 3 s in a row).

    On a 2-core machine a test suite next to the benchmark takes half of it. Returns the seconds
    waited; gives up (and says so) after `max_wait`.
    """
    started = time.monotonic()
    quiet = 0
    busy = machine_busy_seconds()
    while time.monotonic() - started < max_wait:
        time.sleep(1)
        busy2 = machine_busy_seconds()
        share, busy = busy2 - busy, busy2
        quiet = quiet + 1 if share < threshold else 0
        if quiet >= 3:
            return time.monotonic() - started
    print(f"# WARNING: the machine was still busy after {max_wait:.0f} s; measuring anyway", flush=True)
    return time.monotonic() - started


def machine_busy_seconds() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuMeter:
    """CPU used during a phase, in percent of one core: server, postgres, this client, all."""

    server_pid: int
    database: str
    started: float = 0.0
    before: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def sample(self) -> tuple[float, float, float, float]:
        return (
            process_cpu_seconds(self.server_pid),
            postgres_cpu_seconds(self.database),
            self_cpu_seconds(),
            machine_busy_seconds(),
        )

    def start(self) -> None:
        self.started = time.monotonic()
        self.before = self.sample()

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.started
        after = self.sample()
        server, pg, client, machine = (100 * (a - b) / wall for a, b in zip(after, self.before, strict=True))
        return {"server": server, "postgres": pg, "client": client, "other": machine - server - pg - client}


def fmt_cpu(cpu: dict[str, float]) -> str:
    return (
        f"CPU, % of one core: server {cpu['server']:.0f}, postgres {cpu['postgres']:.0f}, "
        f"client {cpu['client']:.0f}, everything else on the machine {cpu['other']:.0f}"
    )


# --------------------------------------------------------------------------- SSE boards


class Board(asyncio.Protocol):
    """One board's event stream over a raw connection: de-chunks the body, notes event arrivals."""

    ORDER_ID = re.compile(rb'data-order-id="([^"]*)"')

    def __init__(self, number: int, path: str, cookie: str) -> None:
        self.number = number
        self.path = path
        self.cookie = cookie
        self.transport: Any = None
        self.raw = bytearray()
        self.body = bytearray()
        self.headers_done = False
        self.chunked = False
        self.chunk_left = 0  # bytes of the current chunk still to come, then its CRLF
        self.connected_at = 0.0
        self.first_try = 0.0  # the first attempt of this board (earlier than connected_at after a retry)
        self.resync_at: float | None = None
        self.resync_bytes = 0
        self.resync = asyncio.Event()
        self.tickets: dict[str, list[float]] = defaultdict(list)
        self.counts: Counter[str] = Counter()
        self.error: str | None = None
        self.closed = asyncio.Event()

    @property
    def is_pickup_screen(self) -> bool:
        return self.path.startswith("/pickup")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.connected_at = time.perf_counter()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {HOST}\r\nAccept: text/event-stream\r\n"
            f"Cookie: {SESSION_COOKIE}={self.cookie}\r\n\r\n".encode("ascii")
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if self.error is None:
            self.error = f"stream closed ({exc or 'by the server'})"
        self.closed.set()
        self.resync.set()  # never leave a waiter hanging

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.raw += data
        if not self.headers_done:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.raw[:end]).decode("latin-1").lower()
            del self.raw[: end + 4]
            if not head.startswith("http/1.1 200"):
                self.error = "bad response: " + head.splitlines()[0]
                self.transport.close()
                return
            self.chunked = "transfer-encoding: chunked" in head
            self.headers_done = True
        if self.chunked:
            self._dechunk()
        else:
            self.body += self.raw
            self.raw.clear()
        self._events(now)

    def _dechunk(self) -> None:
        raw = self.raw
        while raw:
            if self.chunk_left > 0:
                take = min(self.chunk_left, len(raw))
                self.body += raw[:take]
                del raw[:take]
                self.chunk_left -= take
                if self.chunk_left:
                    return
                self.chunk_left = -2  # its trailing CRLF
            if self.chunk_left < 0:
                if len(raw) < 2:
                    return
                del raw[:2]
                self.chunk_left = 0
            line_end = raw.find(b"\r\n")
            if line_end < 0:
                return
            size = int(bytes(raw[:line_end]).split(b";")[0], 16)
            del raw[: line_end + 2]
            if size == 0:
                return  # the last chunk: the server ended the stream
            self.chunk_left = size

    def _events(self, now: float) -> None:
        body = self.body
        start = 0
        while True:
            end = body.find(b"\r\n\r\n", start)
            if end < 0:
                break
            self._event(body, start, end, now)
            start = end + 4
        if start:
            del body[:start]

    def _event(self, body: bytearray, start: int, end: int, now: float) -> None:
        if not body.startswith(b"event: ", start):
            return
        name_end = body.find(b"\r\n", start)
        name = bytes(body[start + 7 : name_end]).decode()
        self.counts[name] += 1
        if name in ("ticket", "pickup"):
            match = self.ORDER_ID.search(body, name_end, end)
            if match:
                self.tickets[match.group(1).decode()].append(now)
        elif name == "ticket-gone":
            order_id = bytes(body[name_end + 2 + 6 : body.find(b"\r\n", name_end + 2)]).decode()  # "data: "
            self.tickets[order_id].append(now)
        elif name == "pickup-gone":
            data = bytes(body[name_end + 2 + 6 : body.find(b"\r\n", name_end + 2)])  # "data: {...}"
            self.tickets[json.loads(data)["orderId"]].append(now)
        elif name == "resync" and self.resync_at is None:
            self.resync_at = now
            self.resync_bytes = end - start
            self.resync.set()


async def connect_board(
    number: int, port: int, path: str, attempts: int, retry_s: float, cookie: str
) -> tuple[Board, list[str]]:
    """Open one board's stream and wait for its `resync`; when the server ends the stream before
    that, try again after `retry_s` (what a browser does, after the `retry` the server asks for)."""
    loop = asyncio.get_running_loop()
    failures: list[str] = []
    first_try = time.perf_counter()
    for _attempt in range(attempts):
        board = Board(number, path, cookie)
        try:
            await loop.create_connection(lambda board=board: board, HOST, port)
        except OSError as exc:
            board.error = f"connect: {exc}"
            board.resync.set()
        await board.resync.wait()
        if board.resync_at is not None and board.error is None:
            board.first_try = first_try
            return board, failures
        failures.append(board.error or "no resync")
        close_boards([board])
        await asyncio.sleep(retry_s)
    raise SystemExit(f"board {number}: no resync after {attempts} attempts: {failures}")


def close_boards(boards: list[Board]) -> None:
    for board in boards:
        if board.transport is not None and not board.transport.is_closing():
            board.error = board.error or "closed by the client"
            board.transport.close()


# --------------------------------------------------------------------------- seeding


def order_payload(index: int, run: str, now: datetime) -> dict[str, Any]:
    brand_id, _name, _colour, menu = BRANDS[index % len(BRANDS)]
    rng = random.Random(index)
    dishes = rng.sample(range(len(menu)), 3)
    # Pickup from 10 minutes ago (late tickets) to 80 minutes ahead, so every urgency shows.
    pickup = now + timedelta(minutes=-10 + (index * 7) % 90)
    return {
        "id": f"{run}-{index:04d}",
        "account": "bench-account",
        "brandId": brand_id,
        "channelOrderId": f"{run}-C{index:04d}",
        "customer": {"name": f"Customer {index}", "phoneNumber": "+358401234567"},
        "deliveryAddress": {"city": "Helsinki", "street": f"Benchmarkintie {index}", "postalCode": "00100"},
        "pickupTime": pickup.isoformat().replace("+00:00", "Z"),
        "items": [
            {"name": menu[d], "plu": f"{brand_id.upper()}-{d:02d}", "quantity": 1 + (index + d) % 2} for d in dishes
        ],
        "status": 1,
    }


async def seed(api: httpx.AsyncClient, orders: int, run: str) -> list[dict[str, Any]]:
    for brand_id, name, colour, dishes in BRANDS:
        response = await api.put(f"/api/brands/{brand_id}", json={"name": name, "colour": colour})
        if response.status_code not in (200, 201):
            raise SystemExit(f"PUT /api/brands/{brand_id}: {response.status_code} {response.text}")
        menu = [
            {"plu": f"{brand_id.upper()}-{d:02d}", "name": dish, "station": station, "prepSeconds": prep}
            for d, (dish, (station, prep)) in enumerate(zip(dishes, DISH_STATIONS, strict=True))
        ]
        response = await api.put(f"/api/brands/{brand_id}/menu", json=menu)
        if response.status_code != 200:
            raise SystemExit(f"PUT /api/brands/{brand_id}/menu: {response.status_code} {response.text}")
    now = datetime.now(UTC)
    payloads = [order_payload(i, run, now) for i in range(orders)]
    semaphore = asyncio.Semaphore(8)

    async def create(payload: dict[str, Any]) -> None:
        async with semaphore:
            response = await api.post("/api/orders", json=payload)
        if response.status_code != 201:
            raise SystemExit(f"POST /api/orders {payload['id']}: {response.status_code} {response.text}")

    await asyncio.gather(*(create(p) for p in payloads))
    return payloads


# --------------------------------------------------------------------------- render phase


async def time_http(api: httpx.AsyncClient, path: str, runs: int, warmup: int, expect_tickets: int) -> dict[str, Any]:
    times = []
    size = 0
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        # As the tablet (its cookie), not as the integration: the boards are for tablets.
        response = await api.get(path, headers={"Authorization": ""})
        elapsed = time.perf_counter() - t0
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code}")
        if i == 0:
            size = len(response.content)
            shown = response.content.count(b"data-order-id=")
            if shown != expect_tickets:
                raise SystemExit(f"GET {path} shows {shown} tickets, expected {expect_tickets}")
        if i >= warmup:
            times.append(elapsed * 1000)
    return {"ms": summary(times), "bytes": size}


async def time_in_process(database_url: str, runs: int, warmup: int, expect_tickets: int) -> dict[str, Any]:
    """BoardRenderer.board_content(session, Station()) in this process, built like kitchen/app.py."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from kitchen.board import queries
    from kitchen.board.render import BoardRenderer
    from kitchen.board.station import Station
    from kitchen.clock import system_clock
    from kitchen.db import create_engine
    from kitchen.settings import Settings

    print(f"# in process: kitchen imported from {Path(sys.modules['kitchen'].__file__ or '?').parent}", flush=True)
    settings = Settings(database_url=database_url, secret_key=BENCH_SECRET_KEY)
    # The same garbage-collector settings as the server applies at start-up (kitchen/app.py).
    from kitchen.app import settle_garbage_collector

    settle_garbage_collector()
    engine = create_engine(settings)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    renderer = BoardRenderer(settings, system_clock)
    station = Station()
    total: list[float] = []
    gc_ms: list[float] = []
    gc_full = 0
    parts: dict[str, list[float]] = defaultdict(list)
    # Time spent in the garbage collector during each run (a full collection shows up as a spike).
    gc_clock = {"start": 0.0, "spent": 0.0, "full": 0}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_clock["start"] = time.perf_counter()
        else:
            gc_clock["spent"] += time.perf_counter() - gc_clock["start"]
            gc_clock["full"] += info["generation"] == 2

    gc.callbacks.append(on_gc)
    try:
        for i in range(warmup + runs):
            async with sessions() as session:
                gc_clock["spent"], gc_clock["full"] = 0.0, 0
                t0 = time.perf_counter()
                content = await renderer.board_content(session, station)
                elapsed = time.perf_counter() - t0
            if i == 0 and content.count("data-order-id=") != expect_tickets:
                raise SystemExit(f"board_content shows {content.count('data-order-id=')} tickets")
            if i >= warmup:
                total.append(elapsed * 1000)
                gc_ms.append(gc_clock["spent"] * 1000)
                gc_full += int(gc_clock["full"])
        # Where the time goes: the same steps as board_context + board_content, timed one by one.
        for i in range(warmup + runs):
            async with sessions() as session:
                marks = [time.perf_counter()]
                now = renderer.clock()
                brands = await queries.brands(session)
                marks.append(time.perf_counter())
                orders = await queries.board_orders(session, station, now)
                routes = await queries.routes(session, orders)
                marks.append(time.perf_counter())
                tickets = [renderer.ticket_view(order, brands, routes) for order in orders]
                marks.append(time.perf_counter())
                all_day = await queries.all_day(session, station)
                marks.append(time.perf_counter())
                context = await renderer.board_context(session, station)  # same context, for the template
                marks.append(time.perf_counter())
                renderer.environment.get_template("board/_content.html").render(**context)
                marks.append(time.perf_counter())
            if i >= warmup:
                steps = [
                    "brands query",
                    "board_orders query (+items, routes)",
                    "ticket_view x N",
                    "all_day query",
                    "(context again)",
                    "Jinja render",
                ]
                for name, a, b in zip(steps, marks, marks[1:], strict=False):
                    parts[name].append((b - a) * 1000)
            del tickets, all_day
    finally:
        if on_gc in gc.callbacks:
            gc.callbacks.remove(on_gc)
        await engine.dispose()
    parts.pop("(context again)", None)
    return {
        "ms": summary(total),
        "parts": {name: summary(v) for name, v in parts.items()},
        "gc_ms": summary(gc_ms),
        "gc_full": gc_full,
    }


# --------------------------------------------------------------------------- live phase


@dataclass
class Change:
    order_id: str
    plu: str
    status: str
    t0: float
    patch_ms: float = 0.0
    measured: bool = True


@dataclass
class LiveResult:
    boards: int
    changes: list[Change]
    latencies_ms: list[float]
    pickup_latencies_ms: list[float]
    misses: int
    missed_examples: list[str]
    connect_s: float
    resync_bytes: int
    resync_ms: dict[str, float]
    board_errors: list[str]
    counts: Counter[str]
    cpu: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0
    connect_failures: Counter[str] = field(default_factory=Counter)


async def run_live(
    args: argparse.Namespace, api: httpx.AsyncClient, payloads: list[dict[str, Any]], server_pid: int
) -> LiveResult:
    paths = ["/board/stream" + ("" if station == "expo" else f"?station={station}") for station in board_stations(args)]
    paths += ["/pickup/stream"] * args.pickup
    t_open = time.perf_counter()
    connected = await asyncio.wait_for(
        asyncio.gather(
            *(
                connect_board(
                    n,
                    args.port,
                    path,
                    args.connect_attempts,
                    args.retry_s,
                    PICKUP_COOKIE[0] if path.startswith("/pickup") else TABLET_COOKIE[0],
                )
                for n, path in enumerate(paths)
            )
        ),
        timeout=args.connect_timeout_s,
    )
    connect_s = time.perf_counter() - t_open
    boards = [board for board, _failures in connected]
    connect_failures = Counter(f for _board, failures in connected for f in failures)
    resync_ms = summary([(b.resync_at - b.first_try) * 1000 for b in boards if b.resync_at is not None])
    await asyncio.sleep(1.0)  # let the server settle after 100 resyncs
    if args.quiet_wait > 0:
        await asyncio.to_thread(wait_for_quiet, args.quiet_wait)
    py_spy = start_py_spy(args.py_spy, server_pid, Path(args.py_spy_dir) / "board-live.txt") if args.py_spy else None
    try:
        if py_spy is not None:
            await asyncio.sleep(1.0)  # py-spy attaches
        result = await send_changes(args, api, payloads, server_pid, boards, connect_s, resync_ms)
        result.connect_failures = connect_failures
        return result
    finally:
        if py_spy is not None:
            stop_py_spy(py_spy)
        close_boards(boards)


def board_stations(args: argparse.Namespace) -> list[str]:
    """The station of each board, from `--stations` ("expo:40,grill:20,..."): `--boards` in all,
    less the `--pickup` screens."""
    boards = args.boards - args.pickup
    mix = [(name, int(share)) for name, share in (part.split(":") for part in args.stations.split(","))]
    whole = sum(share for _, share in mix)
    stations = [name for name, share in mix for _ in range(round(boards * share / whole))]
    return (stations + [mix[0][0]] * boards)[:boards]


async def send_changes(
    args: argparse.Namespace,
    api: httpx.AsyncClient,
    payloads: list[dict[str, Any]],
    server_pid: int,
    boards: list[Board],
    connect_s: float,
    resync_ms: dict[str, float],
) -> LiveResult:
    rng = random.Random(42)
    # Item status per (order, plu), so each PATCH is a real change: ORDERED <-> PREPARING.
    state: dict[str, str] = {}
    changes: list[Change] = []
    total = args.warmup_changes + args.changes
    meter = CpuMeter(server_pid, args.db_name)
    started = time.perf_counter()
    next_at = started
    for j in range(total):
        if j == args.warmup_changes:
            meter.start()
            started = time.perf_counter()
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        payload = payloads[j % len(payloads)]
        plu = payload["items"][(j // len(payloads)) % len(payload["items"])]["plu"]
        key = f"{payload['id']}/{plu}"
        status = "ORDERED" if state.get(key) == "PREPARING" else "PREPARING"
        change = Change(payload["id"], plu, status, time.perf_counter(), measured=j >= args.warmup_changes)
        response = await api.patch(f"/api/orders/{payload['id']}/items/{plu}/status", json={"status": status})
        change.patch_ms = (time.perf_counter() - change.t0) * 1000
        if response.status_code != 200:
            close_boards(boards)
            raise SystemExit(f"PATCH {key} -> {status}: {response.status_code} {response.text}")
        state[key] = status
        changes.append(change)
        next_at = change.t0 + (args.interval_ms + rng.uniform(-args.jitter_ms, args.jitter_ms)) / 1000
    last_t0 = changes[-1].t0

    # Wait until every board has the last change's ticket, or settle_s.
    deadline = time.perf_counter() + args.settle_s
    while time.perf_counter() < deadline:
        if all(any(t >= last_t0 for t in b.tickets.get(changes[-1].order_id, ())) for b in boards):
            break
        await asyncio.sleep(0.05)
    duration = time.perf_counter() - started
    cpu = meter.stop()

    # Match: for change j on order X, a board's arrival is its first `ticket` for X at or after
    # t0_j and before the next change on X was sent.
    next_t0: dict[int, float] = {}
    last_seen: dict[str, int] = {}
    for j in range(len(changes) - 1, -1, -1):
        oid = changes[j].order_id
        if oid in last_seen:
            next_t0[j] = changes[last_seen[oid]].t0
        last_seen[oid] = j
    latencies: list[float] = []
    pickup_latencies: list[float] = []
    misses = 0
    examples: list[str] = []
    for j, change in enumerate(changes):
        if not change.measured:
            continue
        limit = next_t0.get(j, float("inf"))
        for board in boards:
            times = board.tickets.get(change.order_id, [])
            k = bisect.bisect_left(times, change.t0)
            if k < len(times) and times[k] < limit:
                latencies.append((times[k] - change.t0) * 1000)
                if board.is_pickup_screen:
                    pickup_latencies.append(latencies[-1])
            else:
                misses += 1
                if len(examples) < 5:
                    examples.append(
                        f"change {j} ({change.order_id} {change.plu} -> {change.status}) on board {board.number}"
                    )
    board_errors = [f"board {b.number}: {b.error}" for b in boards if b.error]
    counts: Counter[str] = Counter()
    for board in boards:
        counts.update(board.counts)
    close_boards(boards)
    await asyncio.sleep(0.2)
    return LiveResult(
        boards=len(boards),
        changes=[c for c in changes if c.measured],
        latencies_ms=latencies,
        pickup_latencies_ms=pickup_latencies,
        misses=misses,
        missed_examples=examples,
        connect_s=connect_s,
        resync_bytes=boards[0].resync_bytes,
        resync_ms=resync_ms,
        board_errors=board_errors,
        counts=counts,
        cpu=cpu,
        duration_s=duration,
    )


# --------------------------------------------------------------------------- server


BENCH_SECRET_KEY = "board-bench-secret-" + "b" * 32
SESSION_COOKIE = "kitchen_session"
TABLET_COOKIE = [""]  # set once the database exists
PICKUP_COOKIE = [""]  # a pickup screen's, likewise


async def paired_tablet_cookie(database_url: str, role: str = "board") -> str:
    """Pair a tablet (or a pickup screen: `role="pickup"`) in the database and open its session:
    the session cookie's value."""
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from kitchen.auth.service import Credentials, Principal

    engine = create_async_engine(database_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            credentials = Credentials(session)
            code, _ = await credentials.create_pairing_code(Principal("manager", 0, "bench"), role)
            tablet = await credentials.pair_tablet(code, f"bench {role}")
            assert tablet is not None
            token, _ = await credentials.open_session(tablet)
    finally:
        await engine.dispose()
    return token


def sh(command: list[str], env: dict[str, str] | None = None, cwd: Path = PROJECT_ROOT) -> str:
    completed = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stdout}\n{completed.stderr}")
    return completed.stdout


def psql(args: argparse.Namespace, sql: str, database: str = "postgres") -> str:
    return sh(
        [
            "psql",
            "-h",
            args.pg_host,
            "-p",
            str(args.pg_port),
            "-U",
            args.pg_user,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-qtA",
            "-c",
            sql,
        ]
    )


def database_url(args: argparse.Namespace) -> str:
    return f"postgresql+asyncpg://{args.pg_user}@{args.pg_host}:{args.pg_port}/{args.db_name}"


def source_root(args: argparse.Namespace) -> Path:
    return Path(args.source).resolve() if args.source else PROJECT_ROOT


def start_server(args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen[bytes]:
    bin_dir = Path(sys.executable).parent
    command = [
        str(bin_dir / "uvicorn"),
        "kitchen.app:app",
        "--host",
        HOST,
        "--port",
        str(args.port),
        "--workers",
        "1",
        "--no-access-log",
    ]
    print(
        f"# server: KITCHEN_LOG_LEVEL=WARNING KITCHEN_DATABASE_URL={env['KITCHEN_DATABASE_URL']} {' '.join(command)}",
        flush=True,
    )
    log = open(args.server_log, "wb")  # noqa: SIM115  # as long as the server lives
    return subprocess.Popen(command, env=env, cwd=source_root(args), stdout=log, stderr=subprocess.STDOUT)


async def wait_ready(api: httpx.AsyncClient, proc: subprocess.Popen[bytes], within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}; see {proc.args}")
        try:
            if (await api.get("/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("the server did not become ready")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_py_spy(py_spy: str, pid: int, output: Path) -> subprocess.Popen[bytes]:
    """Sample the server (collapsed stacks, one line per stack with its count) until stopped."""
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [py_spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--output", str(output)]
    print(f"# profiling the server: {' '.join(command)}", flush=True)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_py_spy(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_json(path: str, figures: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(figures, indent=2))


def machine_info(args: argparse.Namespace) -> dict[str, str]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal"))
    return {
        "cores (nproc)": str(os.cpu_count()),
        "CPU": cpu,
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "Python": platform.python_version(),
        "PostgreSQL": psql(args, "show server_version").strip(),
        "kernel": platform.release(),
    }


# --------------------------------------------------------------------------- main


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


async def bench(args: argparse.Namespace) -> int:
    with socket.socket() as probe:
        if probe.connect_ex((HOST, args.port)) == 0:
            raise SystemExit(f"something already listens on {HOST}:{args.port}; choose another --port")
    info = machine_info(args)
    print("# machine: " + "; ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    print("# client and server (uvicorn + PostgreSQL) share these cores", flush=True)
    psql(args, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
    psql(args, f'CREATE DATABASE "{args.db_name}"')
    env = dict(os.environ)
    env["KITCHEN_DATABASE_URL"] = database_url(args)
    env["KITCHEN_LOG_LEVEL"] = "WARNING"
    env["KITCHEN_SECRET_KEY"] = BENCH_SECRET_KEY
    source = source_root(args)
    if args.source:
        # Run the kitchen package of this directory (e.g. `git archive HEAD | tar -x -C DIR`), not the
        # editable install of the work tree: PYTHONPATH comes before the editable finder.
        if not (source / "kitchen" / "app.py").is_file():
            raise SystemExit(f"--source {source}: no kitchen/app.py there")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
        sys.path.insert(0, str(source))
    print(f"# kitchen code from {source}", flush=True)
    proc: subprocess.Popen[bytes] | None = None
    py_spy: subprocess.Popen[bytes] | None = None
    failures: list[str] = []
    pickup_columns: dict[str, Any] | None = None
    try:
        kitchen = str(Path(sys.executable).parent / "kitchen")
        sh([kitchen, "database", "upgrade", "--no-prompt"], env=env, cwd=source)
        # The API needs a key and the boards a paired tablet, like in production.
        api_key = sh([kitchen, "api-keys", "create", "board-bench"], env=env, cwd=source).strip().splitlines()[-1]
        TABLET_COOKIE[0] = await paired_tablet_cookie(env["KITCHEN_DATABASE_URL"])
        if args.pickup:
            PICKUP_COOKIE[0] = await paired_tablet_cookie(env["KITCHEN_DATABASE_URL"], "pickup")
        proc = start_server(args, env)
        limits = httpx.Limits(max_connections=10, max_keepalive_connections=10)
        async with httpx.AsyncClient(
            base_url=f"http://{HOST}:{args.port}",
            timeout=30,
            limits=limits,
            headers={"Authorization": f"Bearer {api_key}"},
            cookies={SESSION_COOKIE: TABLET_COOKIE[0]},
        ) as api:
            await wait_ready(api, proc)
            print(f"# server PID {proc.pid}; seeding {args.orders} orders over {len(BRANDS)} brands", flush=True)
            run = f"bb{int(time.time())}"
            payloads = await seed(api, args.orders, run)

            if args.quiet_wait > 0:
                await asyncio.to_thread(wait_for_quiet, args.quiet_wait)
            if args.py_spy:
                py_spy = start_py_spy(args.py_spy, proc.pid, Path(args.py_spy_dir) / "board-render.txt")
                await asyncio.sleep(1.0)
            meter = CpuMeter(proc.pid, args.db_name)
            meter.start()
            print(f"# render: {args.render_runs} sequential runs each (+{args.render_warmup} warm-up)", flush=True)
            page = await time_http(api, "/board", args.render_runs, args.render_warmup, args.orders)
            fragment = await time_http(api, "/board/tickets", args.render_runs, args.render_warmup, args.orders)
            # The grill cooks two of each brand's five dishes: about half the orders have a card there.
            on_grill = sum(any(DISH_STATIONS[int(i["plu"][-2:])][0] == "grill" for i in p["items"]) for p in payloads)
            grill = await time_http(api, "/board/tickets?station=grill", args.render_runs, args.render_warmup, on_grill)
            inproc = await time_in_process(database_url(args), args.render_runs, args.render_warmup, args.orders)
            render_cpu = meter.stop()
            if py_spy is not None:
                stop_py_spy(py_spy)
                py_spy = None
            report_render(args, page, fragment, inproc, render_cpu, grill)

            if args.pickup:
                # What a pickup screen polls without its stream, and its resync: every open order.
                pickup_columns = await time_http(
                    api, "/pickup/columns", args.render_runs, args.render_warmup, args.orders
                )
                row("GET /pickup/columns (both columns), end to end", pickup_columns["ms"], TARGET_RENDER_MS)
            print(
                f"# live: {args.boards} boards, {args.changes} changes (+{args.warmup_changes} warm-up) "
                f"every {args.interval_ms:.0f}+-{args.jitter_ms:.0f} ms",
                flush=True,
            )
            live = await run_live(args, api, payloads, proc.pid)
    finally:
        if py_spy is not None:
            stop_py_spy(py_spy)
        if proc is not None:
            stop_server(proc)
        if not args.keep_db:
            psql(args, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')

    lat = summary(live.latencies_ms)
    patch = summary([c.patch_ms for c in live.changes])
    pairs = len(live.changes) * live.boards
    if live.misses:
        failures.append(f"{live.misses} of {pairs} (change, board) pairs got no ticket event: {live.missed_examples}")
    if live.board_errors:
        failures.append(f"streams that ended early: {live.board_errors[:5]}")
    print()
    print(TABLE_HEAD)
    print("-" * len(TABLE_HEAD))
    row(f"status change -> ticket event at every board ({live.boards} boards)", lat, TARGET_EVENT_P99_MS)
    if args.pickup:
        row(f"  of which at the {args.pickup} pickup screens", summary(live.pickup_latencies_ms), TARGET_EVENT_P99_MS)
    row("  PATCH .../items/{plu}/status response time", patch)
    row(f"GET /board (full page, {args.orders} open orders), end to end", page["ms"], TARGET_RENDER_MS)
    row("GET /board/tickets (board fragment), end to end", fragment["ms"], TARGET_RENDER_MS)
    row("GET /board/tickets?station=grill, end to end", grill["ms"], TARGET_RENDER_MS)
    row("board_content(session, Station()) in process", inproc["ms"], TARGET_RENDER_MS)
    if pickup_columns is not None:
        row("GET /pickup/columns (both columns), end to end", pickup_columns["ms"], TARGET_RENDER_MS)
    print()
    print(f"live: boards per station {dict(Counter(board_stations(args)))}, pickup screens {args.pickup}")
    print(
        f"live: {len(live.changes)} changes x {live.boards} boards = {pairs} pairs, {live.misses} missed; "
        f"{live.duration_s:.1f} s; {fmt_cpu(live.cpu)}"
    )
    print(f"live: events received {dict(live.counts)}")
    print(
        f"connect: {live.boards} boards connected at once, all resynced in {live.connect_s:.2f} s "
        f"(per board, from its first try: p50 {live.resync_ms['p50']:.0f} ms, max {live.resync_ms['max']:.0f} ms; "
        f"resync event {live.resync_bytes / 1024:.0f} KiB)"
    )
    if live.connect_failures:
        total = sum(live.connect_failures.values())
        print(f"connect: {total} streams ended before their resync and were retried: {dict(live.connect_failures)}")
    if args.json:
        write_json(
            args.json,
            {
                "machine": info,
                "args": vars(args),
                "event_latency_ms": lat,
                "pickup_screens": args.pickup,
                "pickup_event_latency_ms": summary(live.pickup_latencies_ms) if args.pickup else None,
                "get_pickup_columns_ms": pickup_columns["ms"] if pickup_columns is not None else None,
                "patch_ms": patch,
                "misses": live.misses,
                "pairs": pairs,
                "live_cpu": live.cpu,
                "render_cpu": render_cpu,
                "connect_s": live.connect_s,
                "resync_ms": live.resync_ms,
                "connect_failures": dict(live.connect_failures),
                "get_board_ms": page["ms"],
                "get_board_tickets_ms": fragment["ms"],
                "get_grill_tickets_ms": grill["ms"],
                "boards_per_station": dict(Counter(board_stations(args))),
                "board_content_ms": inproc["ms"],
                "board_content_parts_ms": inproc["parts"],
                "board_content_gc_ms": inproc["gc_ms"],
                "board_content_gc_full": inproc["gc_full"],
            },
        )
    for failure in failures:
        print("ERROR: " + failure)
    return 1 if failures else 0


TABLE_HEAD = f"{'measure':<58} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  {'target':>9}  verdict"


def row(name: str, s: dict[str, float], target: float | None = None) -> None:
    tgt = f"p99<{target:.0f}" if target else ""
    ver = verdict(s["p99"] < target) if target else ""
    print(f"{name:<58} {s['n']:>6} {s['p50']:>8.1f} {s['p99']:>8.1f} {s['max']:>8.1f}  {tgt:>9}  {ver}", flush=True)


def report_render(
    args: argparse.Namespace,
    page: dict[str, Any],
    fragment: dict[str, Any],
    inproc: dict[str, Any],
    cpu: dict[str, float],
    grill: dict[str, Any],
) -> None:
    print()
    print(TABLE_HEAD)
    print("-" * len(TABLE_HEAD))
    row(f"GET /board (full page, {args.orders} open orders), end to end", page["ms"], TARGET_RENDER_MS)
    row("GET /board/tickets (board fragment), end to end", fragment["ms"], TARGET_RENDER_MS)
    row("GET /board/tickets?station=grill, end to end", grill["ms"], TARGET_RENDER_MS)
    row("board_content(session, Station()) in process", inproc["ms"], TARGET_RENDER_MS)
    row(f"  of which garbage collection ({inproc['gc_full']} full collections)", inproc["gc_ms"])
    print("  board_content step by step (a second series of runs):")
    for name, part in inproc["parts"].items():
        row(f"  {name}", part)
    print(f"render: {fmt_cpu(cpu)}")
    print(f"render: GET /board {page['bytes'] / 1024:.0f} KiB, GET /board/tickets {fragment['bytes'] / 1024:.0f} KiB")
    print(flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--boards", type=int, default=100, help="SSE board connections")
    parser.add_argument("--pickup", type=int, default=0, help="how many of the --boards are pickup screens")
    parser.add_argument("--changes", type=int, default=200, help="measured status changes")
    parser.add_argument("--warmup-changes", type=int, default=10, help="unmeasured changes first")
    parser.add_argument("--interval-ms", type=float, default=150.0, help="time between change starts")
    parser.add_argument("--jitter-ms", type=float, default=50.0, help="uniform jitter on the interval")
    parser.add_argument("--settle-s", type=float, default=5.0, help="how long to wait for the last events")
    parser.add_argument("--connect-attempts", type=int, default=10, help="tries per board to get its resync")
    parser.add_argument("--retry-s", type=float, default=2.0, help="wait before a board tries again")
    parser.add_argument("--connect-timeout-s", type=float, default=120.0, help="how long all boards may take to resync")
    parser.add_argument("--orders", type=int, default=200, help="open orders seeded (the board size)")
    parser.add_argument(
        "--stations",
        default="expo:40,grill:20,fryer:20,cold:10,drinks:10",
        help="the boards' stations, as name:share (expo: whole tickets)",
    )
    parser.add_argument("--render-runs", type=int, default=50, help="measured renders of each kind")
    parser.add_argument("--render-warmup", type=int, default=5, help="unmeasured renders first")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=180.0,
        help="before each phase, wait up to this many seconds for the machine to be idle (0: don't)",
    )
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--db-name", default="kitchen_board_bench")
    parser.add_argument("--pg-host", default="127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-user", default="postgres")
    parser.add_argument(
        "--source", help="run the kitchen code in this directory (e.g. a `git archive` export), not the work tree"
    )
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    parser.add_argument("--server-log", default="/tmp/kitchen-board-bench-server.log")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--py-spy", help="path of py-spy: profile the server during the render and live phases")
    parser.add_argument("--py-spy-dir", default="/tmp/kitchen-board-profile", help="where the py-spy profiles go")
    args = parser.parse_args()
    if not 0 <= args.pickup <= args.boards:
        parser.error("--pickup: 0 to --boards")
    if args.pg_host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("only a local PostgreSQL (127.0.0.1)")
    if shutil.which("psql") is None:
        parser.error("psql is not installed")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # run the finally: blocks (stop the server, drop the database)

    signal.signal(signal.SIGTERM, on_term)
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
