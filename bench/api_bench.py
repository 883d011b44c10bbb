"""Load benchmark of the kitchen JSON API: wrk against a server on 127.0.0.1.

Run it as `bench/run_api_bench.sh [options]` (see bench/README.md). For each round it

1. seeds, through the API, the 3-item orders that the GET and PATCH runs need (fresh ids each round),
2. warms the server up with a short run of each kind (not measured),
3. runs wrk for DURATION seconds with CONNECTIONS connections for each of
   GET /api/orders/{id}, POST /api/orders (a new order each time) and
   PATCH /api/orders/{id}/items/P1/status (a real status change each time),
4. checks that every POST created an order (201) and every PATCH wrote a change, and
5. prints requests/s, p50 and p99 latency, non-2xx and socket errors, and the CPU used.

It only ever talks to a loopback address. With --start-server it also creates a fresh PostgreSQL
database, migrates it, starts one uvicorn worker on it and stops that process (by PID) at the end.
This module uses only the standard library, so it runs with any Python 3.11+.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
LUA = BENCH_DIR / "api.lua"
MODES = ("get", "post", "patch")
LABELS = {
    "get": "GET /api/orders/{id}",
    "post": "POST /api/orders",
    "patch": "PATCH .../items/{plu}/status",
}
# The targets of the spec, for one worker on a 2-core machine.
TARGET_RPS = {"get": 750.0, "post": 450.0, "patch": 550.0}
TARGET_P99_MS = 100.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def order_payload(order_id: str) -> dict[str, Any]:
    """The 3-item order every run uses; the same shape as the one api.lua POSTs."""
    return {
        "id": order_id,
        "account": "acc-bench",
        "brandId": "brand-bench",
        "channelOrderId": order_id,
        "customer": {"name": "Bench Customer", "phoneNumber": "+358401234567"},
        "pickupTime": (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "items": [
            {"plu": "P1", "name": "Burger", "quantity": 1},
            {"plu": "P2", "name": "Fries", "quantity": 2},
            {"plu": "P3", "name": "Cola", "quantity": 1},
        ],
    }


# --------------------------------------------------------------------------- HTTP (seeding, checks)


class Client:
    """A keep-alive HTTP/1.1 connection per thread; enough for seeding and checks."""

    api_key: str | None = None  # set once by main(): "Authorization: Bearer <key>" on every request

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            return response.status, (json.loads(raw) if raw else None)
        raise AssertionError("unreachable")


def parallel(host: str, port: int, jobs: list[Any], work: Any, workers: int = 8) -> list[Any]:
    """Run work(client, job) for every job on `workers` threads, each with its own connection."""
    chunks = [jobs[i::workers] for i in range(workers)]

    def run(chunk: list[Any]) -> list[Any]:
        client = Client(host, port)
        return [work(client, job) for job in chunk]

    with ThreadPoolExecutor(workers) as pool:
        return [result for part in pool.map(run, chunks) for result in part]


def seed(host: str, port: int, ids: list[str]) -> None:
    def create(client: Client, order_id: str) -> None:
        status, body = client.call("POST", "/api/orders", order_payload(order_id))
        if status == 401:
            raise SystemExit(f"seeding: 401 from the server, it wants an API key (--api-key): {body}")
        if status != 201:
            raise SystemExit(f"seeding {order_id}: expected 201, got {status}: {body}")

    parallel(host, port, ids, create)


def count_item_changes(host: str, port: int, ids: list[str]) -> int:
    """How many status changes item P1 of these orders went through (history rows after the first)."""

    def changes(client: Client, order_id: str) -> int:
        status, body = client.call("GET", f"/api/orders/{order_id}")
        if status != 200:
            raise SystemExit(f"checking {order_id}: expected 200, got {status}: {body}")
        item = next(i for i in body["items"] if i["plu"] == "P1")
        return len(item["statusHistory"]) - 1

    return sum(parallel(host, port, ids, changes))


def wait_until_up(host: str, port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode} before it answered")
        try:
            status, _ = Client(host, port).call("GET", "/ready")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"no answer from http://{host}:{port}/ready within {timeout:.0f} s")


# --------------------------------------------------------------------------- CPU accounting


def process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def postgres_cpu_by_pid(db_name: str) -> dict[int, float]:
    """CPU seconds of the PostgreSQL processes that serve the benchmark, by PID.

    Those are the backends connected to `db_name` and the server's own helpers (checkpointer,
    WAL writer, autovacuum, ...); backends of other databases (a test suite next to the benchmark)
    are left out, and so counted as "other".
    """
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if not stat.split("(", 1)[1].startswith("postgres)"):
            continue
        client = "(" in title or "[local]" in title  # "postgres: USER DB 127.0.0.1(PORT) idle"
        if not client or f" {db_name} " in title:
            found[int(entry.name)] = process_cpu_seconds(int(entry.name))
    return found


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user
    return (total - idle) / CLK_TCK, total / CLK_TCK


@dataclass
class CpuSample:
    server: float
    postgres: dict[int, float]
    wrk: float
    machine_busy: float
    machine_total: float

    @classmethod
    def now(cls, server_pid: int | None, db_name: str) -> CpuSample:
        busy, total = machine_busy_seconds()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cls(
            server=process_cpu_seconds(server_pid) if server_pid else float("nan"),
            postgres=postgres_cpu_by_pid(db_name),
            wrk=children.ru_utime + children.ru_stime,
            machine_busy=busy,
            machine_total=total,
        )

    def postgres_since(self, before: CpuSample) -> float:
        # A backend that exited during the run is lost; one that started counts from zero.
        return sum(cpu - before.postgres.get(pid, 0.0) for pid, cpu in self.postgres.items())


# --------------------------------------------------------------------------- wrk runs


@dataclass
class Result:
    mode: str
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    sent: int
    non_2xx: int
    socket_errors: int
    codes: dict[str, int]
    cpu: dict[str, float] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    command: str = ""

    @property
    def ok(self) -> bool:
        return self.non_2xx == 0 and self.socket_errors == 0 and not self.checks


def wait_for_quiet(max_wait: float, threshold: float = 0.25) -> float:
    """Wait until the machine is nearly idle (under `threshold` of one core busy for 2 s in a row).

    On a 2-core machine a test run or a type check next to the benchmark takes half of it.
    Returns the seconds waited; gives up (and says so) after `max_wait`.
    """
    started = time.monotonic()
    quiet = 0
    busy, total = machine_busy_seconds()
    cores = os.cpu_count() or 1
    while time.monotonic() - started < max_wait:
        time.sleep(1)
        busy2, total2 = machine_busy_seconds()
        share = (busy2 - busy) / (total2 - total) * cores if total2 > total else 0
        busy, total = busy2, total2
        quiet = quiet + 1 if share < threshold else 0
        if quiet >= 2:
            return time.monotonic() - started
    print(f"# the machine was still busy after {max_wait:.0f} s; running anyway", flush=True)
    return time.monotonic() - started


def run_wrk(
    url: str, mode: str, prefix: str, count: int, args: argparse.Namespace, seconds: int, server_pid: int | None
) -> Result:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA),
        url,
        "--",
        mode,
        prefix,
        str(count),
        str(args.threads),
    ]
    if Client.api_key:
        command.append(Client.api_key)
    if args.quiet_wait > 0:
        wait_for_quiet(args.quiet_wait)
    before = CpuSample.now(server_pid, args.db_name)
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    after = CpuSample.now(server_pid, args.db_name)
    postgres = after.postgres_since(before)
    line = next((x for x in completed.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if completed.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    errors = data["errors"]
    wall = data["duration_us"] / 1e6
    lat = data["latency_us"]
    cores = os.cpu_count() or 1
    machine_total = after.machine_total - before.machine_total
    return Result(
        mode=mode,
        rps=data["requests"] / wall,
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        max_ms=lat["max"] / 1000,
        requests=data["requests"],
        sent=data["sent"],
        non_2xx=errors["status"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        codes=data["codes"],
        cpu={
            # Percent of one core over the run's wall time.
            "server": 100 * (after.server - before.server) / wall,
            "postgres": 100 * postgres / wall,
            "wrk": 100 * (after.wrk - before.wrk) / wall,
            # Everything else on the machine (another job competing for the 2 cores), % of one core.
            "other": 100
            * (
                (after.machine_busy - before.machine_busy)
                - (after.server - before.server)
                - postgres
                - (after.wrk - before.wrk)
            )
            / wall,
            # Percent of all cores together.
            "machine": 100 * (after.machine_busy - before.machine_busy) / machine_total if machine_total else 0,
            "cores": cores,
            # Server CPU time per answered request: what bounds a single worker (1000 / this = the
            # req/s one fully busy core could give), and less sensitive than req/s to other load.
            "server_ms_per_request": 1000 * (after.server - before.server) / max(data["requests"], 1),
        },
        command=" ".join(command).replace(Client.api_key or "\0", "$KEY"),
    )


# --------------------------------------------------------------------------- the server (optional)


def sh(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    completed = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stdout}\n{completed.stderr}")


def start_server(args: argparse.Namespace, host: str, port: int) -> subprocess.Popen[bytes]:
    """A fresh database, migrated, and one uvicorn worker on it (the caller stops it by PID)."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            # Another server there would answer instead of ours, and be loaded in its place.
            raise SystemExit(f"{host}:{port} is in use ({exc.strerror}): pick a free port with --url") from exc
    pg = ["psql", "-h", args.pg_host, "-p", str(args.pg_port), "-U", args.pg_user, "-v", "ON_ERROR_STOP=1", "-q"]
    sh([*pg, "-c", f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)'])
    sh([*pg, "-c", f'CREATE DATABASE "{args.db_name}"'])
    env = dict(os.environ)
    env["KITCHEN_DATABASE_URL"] = f"postgresql+asyncpg://{args.pg_user}@{args.pg_host}:{args.pg_port}/{args.db_name}"
    env.setdefault("KITCHEN_LOG_LEVEL", "WARNING")
    source = PROJECT_ROOT
    if args.source is not None:
        # Run the kitchen package found in this directory (e.g. `git archive COMMIT | tar -x -C DIR`)
        # instead of the editable install of the work tree.
        source = args.source.resolve()
        if not (source / "kitchen" / "app.py").is_file():
            raise SystemExit(f"--source {source}: no kitchen/app.py there")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    venv_bin = Path(sys.executable).parent
    sh([str(venv_bin / "kitchen"), "database", "upgrade", "--no-prompt"], env=env, cwd=source)
    command = [
        str(venv_bin / "uvicorn"),
        "kitchen.app:app",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    if args.api_key is None:
        # The API wants a key (Authorization: Bearer); a fresh database has none, so make one.
        completed = subprocess.run(
            [str(venv_bin / "kitchen"), "api-keys", "create", "bench"],
            env=env,
            cwd=source,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode == 0 and completed.stdout.strip():
            args.api_key = completed.stdout.strip().splitlines()[-1].strip()
        else:
            print("# no `kitchen api-keys create`: running without an API key", flush=True)
    print(f"# server: {' '.join(command)}  (database {args.db_name}, code in {source})", flush=True)
    log = open(args.server_log, "wb")  # noqa: SIM115  # lives as long as the server
    proc = subprocess.Popen(command, env=env, cwd=source, stdout=log, stderr=subprocess.STDOUT)
    wait_until_up(host, port, proc=proc)
    time.sleep(0.5)
    if proc.poll() is not None:
        raise SystemExit(f"the server exited with code {proc.returncode}; see {args.server_log}")
    return proc


def _psql(args: argparse.Namespace, database: str, *sql: str) -> str:
    command = ["psql", "-h", args.pg_host, "-p", str(args.pg_port), "-U", args.pg_user, "-d", database, "-Atq"]
    for statement in sql:
        command += ["-c", statement]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def autovacuum_on(args: argparse.Namespace) -> bool:
    return _psql(args, args.db_name, "SHOW autovacuum") == "on"


def vacuum_database(args: argparse.Namespace) -> None:
    """Clean up the dead row versions earlier runs left, as autovacuum does on a production server.

    Each change updates a few hot rows (summary counters, history rows' ended_at); without vacuum
    their dead versions pile up and every later run pays for the earlier ones.
    """
    _psql(args, args.db_name, "VACUUM (ANALYZE)")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- report


def verdict(mode: str, rps: float, p99: float) -> str:
    misses = []
    if rps < TARGET_RPS[mode]:
        misses.append("req/s")
    if p99 >= TARGET_P99_MS:
        misses.append("p99")
    return "met" if not misses else "MISSED " + "+".join(misses)


def print_round(results: list[Result], title: str) -> None:
    print(f"\n{title}")
    header = (
        f"{'endpoint':<30} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'requests':>9} {'non-2xx':>8}"
        f" {'sock err':>8} {'srv ms/req':>10}  {'server':>6} {'pg':>5} {'wrk':>5} {'other':>5} {'machine':>7}"
        f"  {'target':>14}  verdict"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        cpu = r.cpu
        target = f">={TARGET_RPS[r.mode]:.0f}, <{TARGET_P99_MS:.0f}ms"
        print(
            f"{LABELS[r.mode]:<30} {r.rps:>8.1f} {r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {r.requests:>9} {r.non_2xx:>8}"
            f" {r.socket_errors:>8} {cpu['server_ms_per_request']:>10.2f}  {cpu['server']:>5.0f}%"
            f" {cpu['postgres']:>4.0f}% {cpu['wrk']:>4.0f}% {cpu['other']:>4.0f}% {cpu['machine']:>6.0f}%"
            f"  {target:>14}  {verdict(r.mode, r.rps, r.p99_ms)}"
        )
        codes = ", ".join(f"{c}: {k}" for c, k in sorted(r.codes.items()))
        print(f"{'':<30} status codes {codes}")
        for check in r.checks:
            print(f"{'':<30} CHECK FAILED: {check}")
    print(
        "CPU: srv ms/req = server CPU per answered request; server/pg/wrk/other in % of one core"
        " during the run, machine in % of all cores together."
    )
    if any(r.cpu["other"] > 25 for r in results):
        print("WARNING: other processes used CPU during a run; its figures understate the server.")


def print_summary(rounds: list[list[Result]]) -> None:
    print(
        f"\nMedian of {len(rounds)} rounds (min-max of req/s and p99 in brackets;"
        " other = the most CPU other processes took in any of the rounds, % of one core)"
    )
    print(
        f"{'endpoint':<30} {'req/s':>8} {'':>17} {'p50 ms':>7} {'p99 ms':>7} {'':>15}"
        f" {'srv ms/req':>10} {'other':>6}  verdict"
    )
    for i, mode in enumerate(MODES):
        runs = [r[i] for r in rounds]
        rps = [r.rps for r in runs]
        p99 = [r.p99_ms for r in runs]
        p50 = [r.p50_ms for r in runs]
        cost = statistics.median(r.cpu["server_ms_per_request"] for r in runs)
        other = max(r.cpu["other"] for r in runs)
        print(
            f"{LABELS[mode]:<30} {statistics.median(rps):>8.1f} [{min(rps):>6.1f}-{max(rps):>6.1f}]"
            f" {statistics.median(p50):>7.1f} {statistics.median(p99):>7.1f} [{min(p99):>5.1f}-{max(p99):>5.1f}]"
            f" {cost:>10.2f} {other:>5.0f}%  {verdict(mode, statistics.median(rps), statistics.median(p99))}"
        )


# --------------------------------------------------------------------------- main


def loopback(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"--url must be http://HOST:PORT, not {url!r}")
    host = parts.hostname
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise SystemExit(f"cannot resolve {host!r}: {exc}") from exc
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise SystemExit(f"refusing to load {host!r}: this benchmark only targets loopback addresses")
    return host, parts.port or 80


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8001", help="the server (loopback only)")
    parser.add_argument("--duration", type=int, default=15, help="seconds per measured run (15)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1: wrk needs little CPU)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load per kind first (3)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (of the three runs) to report (1)")
    parser.add_argument(
        "--max-other",
        type=float,
        default=25,
        help="discard and repeat a round in which other processes took more than this %% of a core (25)",
    )
    parser.add_argument("--max-rounds", type=int, help="give up after this many rounds (default: 3 x --rounds)")
    parser.add_argument("--get-orders", type=int, default=200, help="seeded orders the GET run cycles over")
    parser.add_argument("--patch-orders", type=int, default=2000, help="seeded orders the PATCH run toggles")
    parser.add_argument(
        "--quiet-wait", type=float, default=120, help="before each run, wait up to this many s for an idle machine"
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("KITCHEN_BENCH_API_KEY"),
        help="API key for 'Authorization: Bearer' (default $KITCHEN_BENCH_API_KEY; --start-server makes one)",
    )
    parser.add_argument("--server-pid", type=int, help="PID of a running server, to report its CPU use")
    parser.add_argument("--json", type=Path, help="also write every result to this JSON file")
    server = parser.add_argument_group("--start-server: run one uvicorn worker on a fresh PostgreSQL database")
    server.add_argument("--start-server", action="store_true")
    server.add_argument("--db-name", default="kitchen_bench", help="dropped and created anew (kitchen_bench)")
    server.add_argument("--pg-host", default="127.0.0.1")
    server.add_argument("--pg-port", type=int, default=5432)
    server.add_argument("--pg-user", default="postgres")
    server.add_argument("--source", type=Path, help="run the kitchen package in this directory, not the work tree's")
    server.add_argument("--server-log", default="/tmp/kitchen-bench-server.log")
    server.add_argument(
        "--vacuum",
        choices=("auto", "always", "never"),
        default="auto",
        help="VACUUM ANALYZE the database before each measured run: auto = when the server's autovacuum is off",
    )
    args = parser.parse_args(argv)

    host, port = loopback(args.url)
    if args.max_rounds is None:
        args.max_rounds = 3 * args.rounds
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    if args.patch_orders // args.threads <= 2 * args.connections // args.threads:
        raise SystemExit("--patch-orders must be well above --connections (each PATCH must see its last one done)")
    if args.start_server and ipaddress.ip_address(socket.gethostbyname(args.pg_host)).is_loopback is False:
        raise SystemExit("--pg-host must be a loopback address")

    proc = start_server(args, host, port) if args.start_server else None
    vacuum = args.vacuum == "always" or (args.vacuum == "auto" and args.start_server and not autovacuum_on(args))
    if vacuum:
        print(
            f"# the server's autovacuum is off: VACUUM ANALYZE {args.db_name} before each measured run,"
            " as autovacuum would between them",
            flush=True,
        )
    Client.api_key = args.api_key
    server_pid = proc.pid if proc else args.server_pid
    url = f"http://{host}:{port}"
    all_rounds: list[list[Result]] = []
    kept: list[list[Result]] = []
    try:
        wait_until_up(host, port)
        print(
            f"# wrk -t{args.threads} -c{args.connections} -d{args.duration}s against {url},"
            f" {args.rounds} round(s), {args.warmup} s warm-up per kind",
            flush=True,
        )
        number = 0
        while len(kept) < args.rounds and number < args.max_rounds:
            number += 1
            prefix = f"b{int(time.time())}r{number}"
            warm = prefix + "w"
            get_ids = [f"{prefix}-g-{i}" for i in range(args.get_orders)]
            patch_ids = [f"{prefix}-p-{i}" for i in range(args.patch_orders)]
            warm_patch = max(4 * args.connections, 256)
            warm_ids = [f"{warm}-p-{i}" for i in range(warm_patch)]
            started = time.monotonic()
            seed(host, port, get_ids + patch_ids + warm_ids)
            print(
                f"# round {number}: seeded {len(get_ids) + len(patch_ids) + len(warm_ids)} orders"
                f" in {time.monotonic() - started:.1f} s",
                flush=True,
            )
            if args.warmup > 0:
                run_wrk(url, "get", prefix, args.get_orders, args, args.warmup, server_pid)
                run_wrk(url, "post", warm, 0, args, args.warmup, server_pid)
                run_wrk(url, "patch", warm, warm_patch, args, args.warmup, server_pid)
            results = []
            for mode in MODES:
                count = {"get": args.get_orders, "post": 0, "patch": args.patch_orders}[mode]
                if vacuum:
                    vacuum_database(args)
                result = run_wrk(url, mode, prefix, count, args, args.duration, server_pid)
                results.append(result)
            check(host, port, results, patch_ids)
            all_rounds.append(results)
            busy = max(r.cpu["other"] for r in results)
            clean = not busy > args.max_other  # NaN (no --server-pid) counts as clean
            if clean:
                kept.append(results)
            title = f"Round {number} ({args.duration} s per run, {args.connections} connections)"
            if not clean:
                title += (
                    f": DISCARDED, other processes took {busy:.0f}% of a core (> --max-other {args.max_other:.0f}%)"
                )
            print_round(results, title)
    finally:
        if proc is not None:
            stop_server(proc)
    if not kept:
        print(f"\nWARNING: no round ran on a quiet machine (--max-other {args.max_other:.0f}%); summary of all rounds")
        kept = all_rounds
    elif len(kept) < args.rounds:
        print(f"\nWARNING: only {len(kept)} of {args.rounds} rounds ran on a quiet machine")
    if len(kept) > 1:
        print_summary(kept)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "kept": [[r.__dict__ for r in rounds] for rounds in kept],
                    "all": [[r.__dict__ for r in rounds] for rounds in all_rounds],
                },
                indent=2,
                default=str,
            )
        )
    print("\nwrk command lines (last round):")
    for r in all_rounds[-1]:
        print(f"  {r.command}")
    return 0 if all(r.ok for rounds in all_rounds for r in rounds) else 1


def check(host: str, port: int, results: list[Result], patch_ids: list[str]) -> None:
    """Each run must have done what it claims: 200s for GET, inserts for POST, changes for PATCH."""
    expected = {"get": "200", "post": "201", "patch": "200"}
    for r in results:
        other = {c: k for c, k in r.codes.items() if c != expected[r.mode]}
        if other:
            r.checks.append(f"answers other than {expected[r.mode]}: {other}")
    patch = results[MODES.index("patch")]
    changes = count_item_changes(host, port, patch_ids)
    # Requests still in flight when wrk stopped were sent (counted in `sent`), and may have been
    # written, but their answers were not counted in `requests`.
    if not (patch.requests <= changes <= patch.sent):
        patch.checks.append(
            f"{changes} item status changes written for {patch.requests} answered PATCHes"
            f" ({patch.sent} sent): some PATCHes were no-ops or failed"
        )
    patch.codes["changes written"] = changes


if __name__ == "__main__":
    sys.exit(main())
