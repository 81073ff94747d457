"""Shared set-up for the benchmarks in bench/ (the leading underscore keeps `make bench` from
running this file as a benchmark).

A benchmark script does, in this order:

    import _common                      # before anything that imports Django models
    db = _common.setup()                # bench database created + migrated, django.setup() done
    result = _common.run_workers(make_op, workers=8, seconds=5)
    _common.print_table(headers, rows)
    _common.print_json({...})           # the LAST line of output, one JSON object

Database: the benchmarks never touch the database that tests or people use. From DATABASE_URL
(default postgres://postgres@127.0.0.1:5432/payments) they derive `<name>_bench`, create it if
missing and migrate it. It is rebuilt from scratch when any migration file changed since it was
built (a digest is kept in its `bench_schema` table), or with `--fresh` (see add_arguments).

Processes: run_workers() forks N worker processes (the GIL would make threads measure Python, not
the database). Django's connections are closed before the fork, so every worker opens its own
persistent connection (CONN_MAX_AGE is forced on here, DEBUG off so that no query log is kept).

Servers: `Server` starts granian (config.wsgi) on a free 127.0.0.1 port with the benchmark's
settings and stops it; just before it stops, it reads the peak resident memory (VmHWM) of every
worker process: `Server.memory` (max and sum), the JSON keys `web_peak_rss_mb` and
`web_peak_rss_mb_sum`. `peak_rss_mb(pid)` and `memory_of(pids)` serve other processes (a Celery
worker, bench/worker.py) the same way.

Note on file names: `python bench/x.py` puts bench/ first on sys.path, where a benchmark named
like an app (bench/terminals.py) would shadow the app. This module moves bench/ to the end of
sys.path and the repository root to the front, so name benchmarks freely.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(ROOT))
sys.path.append(str(BENCH_DIR))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/payments"
SUFFIX = "_bench"
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "psql", "postgis"}
CONN_MAX_AGE = 600  # seconds: persistent connections (without them throughput falls to a third)


# --- database ---------------------------------------------------------------------------------


def bench_database_url(url: str | None = None) -> tuple[str, str]:
    """The benchmark database's URL and name, derived from `url` (or DATABASE_URL)."""
    url = url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    parts = urlsplit(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        raise SystemExit(f"bench: the benchmarks need PostgreSQL, not {parts.scheme!r} ({url})")
    name = parts.path.lstrip("/") or "payments"
    if not name.endswith(SUFFIX):
        name += SUFFIX
    return urlunsplit(parts._replace(path="/" + name)), name


def _server_params(url: str) -> dict:
    import environ

    config = environ.Env.db_url_config(url)
    params = {"user": config.get("USER"), "password": config.get("PASSWORD")}
    params["host"] = config.get("HOST")
    params["port"] = config.get("PORT")
    return {k: v for k, v in params.items() if v not in (None, "")}


def schema_fingerprint() -> str:
    """A digest of every migration file: when one changes, the benchmark database is rebuilt."""
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _connect(dbname: str, params: dict):
    import psycopg2

    conn = psycopg2.connect(dbname=dbname, **params)
    conn.autocommit = True
    return conn


def _recorded_fingerprint(name: str, params: dict) -> str | None:
    conn = _connect(name, params)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('bench_schema') IS NOT NULL")
            if not cur.fetchone()[0]:
                return None
            cur.execute("SELECT fingerprint FROM bench_schema LIMIT 1")
            row = cur.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


@dataclass
class BenchDB:
    url: str
    name: str
    state: str  # "reused", "created", "rebuilt (--fresh)", "rebuilt (migrations changed)", ...
    migrate_seconds: float


def setup(*, fresh: bool = False, url: str | None = None) -> BenchDB:
    """Points Django at the benchmark database, creates it (or rebuilds it when a migration file
    changed since it was built, or when `fresh`), migrates it, and runs django.setup().

    Benchmarks should not run at the same time (they skew each other's figures), but if one is
    running it is never cut off: set-up is serialized by an advisory lock, and a database that
    other sessions are using is not dropped (it is migrated in place instead)."""
    import psycopg2
    from psycopg2 import errors, sql

    bench_url, name = bench_database_url(url)
    os.environ["DATABASE_URL"] = bench_url
    os.environ["CONN_MAX_AGE"] = str(CONN_MAX_AGE)
    os.environ["DEBUG"] = "false"  # DEBUG keeps a log of every query: not what production runs
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    params = _server_params(bench_url)
    current = schema_fingerprint()
    lock = f"bench-setup:{name}"

    try:
        admin = _connect("postgres", params)
    except psycopg2.OperationalError:
        admin = _connect("template1", params)
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(hashtext(%s))", [lock])
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            exists = cur.fetchone() is not None
            state = "reused"
            if exists and (fresh or _recorded_fingerprint(name, params) != current):
                why = "--fresh" if fresh else "migrations changed"
                try:
                    cur.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
                    exists = False
                    state = f"rebuilt ({why})"
                except errors.ObjectInUse:  # another benchmark is running on it: leave it be
                    state = f"reused, not rebuilt ({why}) as other sessions use it: migrated in place"
            if not exists:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                state = "created" if state == "reused" else state

            import django

            django.setup()

            from django.core.management import call_command
            from django.db import connection, connections

            started = time.perf_counter()
            call_command("migrate", interactive=False, verbosity=0)
            with connection.cursor() as c:
                c.execute("CREATE TABLE IF NOT EXISTS bench_schema (fingerprint text NOT NULL)")
                c.execute("DELETE FROM bench_schema")
                c.execute("INSERT INTO bench_schema (fingerprint) VALUES (%s)", [current])
            migrate_seconds = time.perf_counter() - started
            connections.close_all()
            cur.execute("SELECT pg_advisory_unlock(hashtext(%s))", [lock])
    finally:
        admin.close()
    return BenchDB(url=bench_url, name=name, state=state, migrate_seconds=migrate_seconds)


def analyze(*tables: str) -> None:
    """VACUUM ANALYZE the given tables (the test server runs with autovacuum off)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'VACUUM (ANALYZE) "{table}"')


def raw_connection():
    """A new psycopg2 connection (not Django's) to the benchmark database, autocommit off."""
    import psycopg2
    from django.db import connection

    s = connection.settings_dict
    params = {"dbname": s["NAME"], "user": s["USER"], "password": s["PASSWORD"]}
    params.update({"host": s["HOST"], "port": s["PORT"]})
    params = {k: v for k, v in params.items() if v not in (None, "")}
    options = {k: v for k, v in s.get("OPTIONS", {}).items() if k not in {"pool", "server_side_binding"}}
    return psycopg2.connect(**params, **options)


def check_ledger() -> dict[str, list[str]]:
    """What `manage.py check_ledger` checks: every check by name, with its violations."""
    from wallet.integrity import run_checks

    return run_checks()


def report_ledger_check() -> tuple[dict[str, list[str]], float]:
    """Runs check_ledger() and prints a line per check (with up to 10 of its violations) after a
    blank line. Returns the checks that found violations, and the seconds it took; a check that
    raises counts as a violation."""
    started = time.perf_counter()
    try:
        problems = check_ledger()
    except Exception as exc:  # noqa: BLE001 - reported, and the run fails
        problems = {"check_ledger raised": [repr(exc)]}
    seconds = time.perf_counter() - started
    print()
    for name, found in problems.items():
        print(f"check_ledger: {'ok  ' if not found else 'FAIL'} {name}")
        for problem in found[:10]:
            print(f"    - {problem}")
    return {name: found for name, found in problems.items() if found}, seconds


def run_id() -> str:
    """A short id that makes this run's references and names unique."""
    return uuid.uuid4().hex[:10]


def new_customers(count: int, *, tag: str = "bench") -> list:
    """`count` new customers (valid, unused Serbian mobile numbers; no password hashing)."""
    import random

    from wallet.models import User

    users = []
    rng = random.SystemRandom()
    while len(users) < count:
        phones = {f"+3816{rng.randint(0, 9)}{rng.randint(0, 9_999_999):07d}" for _ in range(count * 2)}
        taken = set(User.objects.filter(phone__in=phones).values_list("phone", flat=True))
        for phone in sorted(phones - {str(p) for p in taken})[: count - len(users)]:
            users.append(User.objects.create_user(phone, None, first_name=tag))
    return users


# --- workers ----------------------------------------------------------------------------------


@dataclass
class RunResult:
    label: str
    workers: int
    ops: int
    errors: int
    elapsed: float  # seconds from the first worker's start to the last worker's end
    latencies: array = field(repr=False)  # seconds, one per successful op
    first_error: str | None = None
    client_cpu: float = 0.0  # CPU seconds of the worker processes while measured
    server_cpu: float | None = None  # CPU seconds of their PostgreSQL backends (None: unknown)
    machine_busy: float | None = None  # CPU seconds the whole machine spent meanwhile

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.elapsed if self.elapsed > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    @property
    def client_us_per_op(self) -> float:
        return self.client_cpu / self.ops * 1e6 if self.ops else math.nan

    @property
    def server_us_per_op(self) -> float:
        return self.server_cpu / self.ops * 1e6 if self.ops and self.server_cpu is not None else math.nan

    @property
    def other_load(self) -> float:
        """Share of the machine's CPU used by other processes while this ran (other people's
        work, and PostgreSQL's own background processes): near 0 on a quiet machine."""
        if self.machine_busy is None or self.server_cpu is None or not self.elapsed:
            return math.nan
        others = self.machine_busy - self.client_cpu - self.server_cpu
        return max(0.0, others) / (self.elapsed * (os.cpu_count() or 1))


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN without samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a process on this machine, None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return None


def _machine_busy() -> float | None:
    """CPU seconds spent busy by all CPUs since boot, None if unknown."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
        return (sum(values) - values[3] - values[4]) / _TICK  # minus idle and iowait
    except (OSError, ValueError, IndexError):
        return None


def _backend_pids(op) -> list[int]:
    """PostgreSQL backends serving this worker: Django's open connections, plus any the op
    lists in an `op.db_pids` attribute (its own raw connections)."""
    from django.db import connections

    pids = list(getattr(op, "db_pids", ()))
    for conn in connections.all(initialized_only=True):
        raw = conn.connection
        if raw is not None and conn.vendor == "postgresql":
            pid = raw.get_backend_pid() if hasattr(raw, "get_backend_pid") else raw.info.backend_pid
            pids.append(pid)
    return pids


def cpu_seconds(pids: Sequence[int]) -> float | None:
    """CPU seconds (user + system) of these processes together; None if one is unreadable."""
    values = [_process_cpu(pid) for pid in pids]
    return None if not values or None in values else sum(values)


def _worker(make_op, index, seconds, count, warmup, barrier, queue):
    from django.db import connections

    errors, first_error = 0, None
    latencies = array("d")
    started = ended = 0.0
    client_cpu, server_cpu, busy = 0.0, None, None
    try:
        connections.close_all()  # nothing inherited from the parent: our own connection
        op = make_op(index)
        until = time.monotonic() + warmup
        while time.monotonic() < until:
            op()
        pids = _backend_pids(op)
        barrier.wait(timeout=120)
        started = time.monotonic()
        cpu0, server0 = time.process_time(), cpu_seconds(pids)
        busy0 = _machine_busy() if index == 0 else None
        deadline = started + seconds if seconds else math.inf
        done = 0
        while done < (count or math.inf):
            t0 = time.perf_counter()
            try:
                op()
            except Exception:  # noqa: BLE001 - counted and reported; the benchmark goes on
                errors += 1
                first_error = first_error or traceback.format_exc()
                if errors >= 100:
                    break
            else:
                latencies.append(time.perf_counter() - t0)
            done += 1
            if time.monotonic() >= deadline:
                break
        ended = time.monotonic()
        client_cpu = time.process_time() - cpu0
        server1 = cpu_seconds(pids)
        if server0 is not None and server1 is not None:
            server_cpu = server1 - server0
        if busy0 is not None:
            busy1 = _machine_busy()
            busy = busy1 - busy0 if busy1 is not None else None
        close = getattr(op, "close", None)
        if close:
            close()
        connections.close_all()
    except BaseException:  # noqa: BLE001 - the parent reports it
        errors += 1
        first_error = first_error or traceback.format_exc()
        barrier.abort()
    queue.put((index, started, ended, latencies.tobytes(), errors, first_error, client_cpu, server_cpu, busy))


def run_workers(
    make_op: Callable[[int], Callable[[], object]],
    *,
    workers: int,
    seconds: float | None = None,
    count: int | None = None,
    warmup: float = 0.5,
    label: str = "",
) -> RunResult:
    """Runs `workers` forked processes; each calls `make_op(index)` once (after the fork, with its
    own database connection) and then the returned op over and over: first `warmup` seconds
    uncounted, then all start together and each runs for `seconds`, or `count` ops (each worker).
    An op that raises is counted as an error and the run goes on. If the op has a `close`
    attribute it is called at the end. CPU is accounted while measured: the workers' own, their
    PostgreSQL backends' (Django's connections, plus the pids an op lists in `op.db_pids`), and
    the whole machine's, so that RunResult.other_load tells how busy the machine was otherwise."""
    if not seconds and not count:
        raise ValueError("give seconds or count")
    from django.db import connections

    connections.close_all()  # never share a socket with the children
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(workers)
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(make_op, i, seconds, count, warmup, barrier, queue), daemon=True)
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    reports = []
    limit = (seconds or 0) + warmup + 300 + (count or 0)
    for _ in procs:
        try:
            reports.append(queue.get(timeout=limit))
        except Exception:  # noqa: BLE001 - a worker died without a word
            break
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.terminate()
    latencies = array("d")
    ops = errors = 0
    first_error = None
    starts, ends = [], []
    client_cpu, server_cpus, busy = 0.0, [], None
    for index, started, ended, lat, errs, err, cpu, server, machine in sorted(reports, key=lambda r: r[0]):
        chunk = array("d")
        chunk.frombytes(lat)
        latencies.extend(chunk)
        ops += len(chunk)
        errors += errs
        first_error = first_error or err
        client_cpu += cpu
        server_cpus.append(server)
        if index == 0:
            busy = machine
        if started and ended:
            starts.append(started)
            ends.append(ended)
    if len(reports) < workers:
        errors += workers - len(reports)
        first_error = first_error or f"{workers - len(reports)} worker(s) died without reporting"
    elapsed = (max(ends) - min(starts)) if starts else 0.0
    server_cpu = None if not server_cpus or None in server_cpus else sum(server_cpus)
    return RunResult(
        label, workers, ops, errors, elapsed, latencies, first_error, client_cpu, server_cpu, busy
    )


@dataclass
class Summary:
    """Several rounds of one measurement: the median throughput, pooled latencies."""

    label: str
    workers: int
    rounds: list[RunResult]

    @property
    def ops_per_s(self) -> float:
        return statistics.median(r.ops_per_s for r in self.rounds) if self.rounds else 0.0

    @property
    def ops(self) -> int:
        return sum(r.ops for r in self.rounds)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.rounds)

    @property
    def first_error(self) -> str | None:
        return next((r.first_error for r in self.rounds if r.first_error), None)

    def percentile_ms(self, q: float) -> float:
        pooled = array("d")
        for r in self.rounds:
            pooled.extend(r.latencies)
        return percentile(pooled, q) * 1000

    @property
    def client_us_per_op(self) -> float:
        return statistics.median(r.client_us_per_op for r in self.rounds) if self.rounds else math.nan

    @property
    def server_us_per_op(self) -> float:
        return statistics.median(r.server_us_per_op for r in self.rounds) if self.rounds else math.nan

    @property
    def cpu_us_per_op(self) -> float:
        """Client + database CPU per op: steadier than throughput on a busy machine."""
        return self.client_us_per_op + self.server_us_per_op

    @property
    def other_load(self) -> float:
        """Median over rounds of the CPU share other processes used (see RunResult.other_load)."""
        loads = [r.other_load for r in self.rounds if not math.isnan(r.other_load)]
        return statistics.median(loads) if loads else math.nan


# --- processes and servers --------------------------------------------------------------------


def redis_url() -> str:
    """The Redis broker the servers publish to: CELERY_BROKER_URL, else REDIS_URL, else local."""
    for name in ("CELERY_BROKER_URL", "REDIS_URL"):
        value = os.environ.get(name, "")
        if value.startswith(("redis://", "rediss://")):
            return value
    return "redis://127.0.0.1:6379/0"


@dataclass
class Reply:
    status_code: int
    text: str

    def json(self):
        return json.loads(self.text)


class JsonClient:
    """A lean JSON client on one kept-alive HTTP/1.1 socket (terminals.simulator.Connection, the
    terminal simulator's transport): the clients share the machine's two cores with the server they
    measure. `requests` spent about 1 ms of CPU on a call here, the standard library's http.client
    about 0.3 ms (most of it parsing headers through the email package)."""

    def __init__(self, base_url: str, headers: dict | None = None, timeout: float = 60.0):
        from terminals.simulator import Connection

        self._connection = Connection(base_url, timeout=timeout)
        self.headers = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}

    def post(self, path: str, body: dict, headers: dict | None = None) -> Reply:
        data = json.dumps(body).encode()
        sent = {**self.headers, **(headers or {})}
        try:
            status, _, answer = self._connection.roundtrip("POST", path, data, sent)
        except Exception:
            self._connection.close()  # a broken connection is opened afresh by the next call
            raise
        return Reply(status, answer.decode())

    def close(self) -> None:
        self._connection.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def peak_rss_mb(pid: int) -> float | None:
    """The peak resident memory of a living process so far (VmHWM of /proc/<pid>/status), in MB
    (MiB); None if unreadable. Pages shared with other processes (after a fork) count in each."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class Memory:
    """Peak resident memory of a group of processes (each read with peak_rss_mb)."""

    peaks: dict[int, float] = field(default_factory=dict)  # pid: MB

    @property
    def max_mb(self) -> float:
        return max(self.peaks.values()) if self.peaks else math.nan

    @property
    def sum_mb(self) -> float:
        return sum(self.peaks.values()) if self.peaks else math.nan

    def figures(self, prefix: str) -> dict:
        """JSON keys: `<prefix>_peak_rss_mb` (the largest process), `<prefix>_peak_rss_mb_sum` (all
        of them) and `<prefix>_processes` (how many were read); None when none could be read."""

        def mb(value):
            return None if math.isnan(value) else round(value, 1)

        return {
            f"{prefix}_peak_rss_mb": mb(self.max_mb),
            f"{prefix}_peak_rss_mb_sum": mb(self.sum_mb),
            f"{prefix}_processes": len(self.peaks),
        }

    def describe(self) -> str:
        if not self.peaks:
            return "-"
        return f"{self.max_mb:.0f} MB max, {self.sum_mb:.0f} MB in all ({len(self.peaks)} processes)"


def memory_of(pids: Sequence[int]) -> Memory:
    return Memory({pid: mb for pid in pids if (mb := peak_rss_mb(pid)) is not None})


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def terminate(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM (a graceful shutdown), then SIGKILL if it has not ended within `timeout` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def delete_queue(queue: str) -> None:
    """Deletes a benchmark's private Celery queue from Redis (its tasks were never to be run), with
    the lists beside it that feed it (notifications/relay.py, the notices' batches)."""
    try:
        import redis

        broker = redis.Redis.from_url(redis_url())
        broker.delete(queue, f"_kombu.binding.{queue}", f"{queue}:urgent", f"{queue}:notifications-ready")
        broker.close()
    except Exception as exc:  # noqa: BLE001 - leftovers of a benchmark are not worth failing for
        print(f"(could not delete the Redis queue {queue}: {exc})", file=sys.stderr)


class Server:
    """granian serving config.wsgi (through bench/_wsgi.py) on 127.0.0.1, as production does
    (Dockerfile), started and stopped by a benchmark.

    `workers` processes of `threads` blocking threads each run the application; connections are
    kept alive. `queue` is the run's private Celery queue (BENCH_CELERY_QUEUE); `app_name`, if
    given, becomes the workers' PostgreSQL application_name (so that their backends can be found);
    `ready_path` is polled until it answers (else: until the port accepts connections);
    `extra_env` and `extra_args` go to granian as they are. Just before stop() shuts the server
    down it reads every worker's peak RSS into `memory`."""

    def __init__(
        self,
        *,
        name: str,
        workers: int,
        threads: int,
        queue: str,
        app_name: str = "",
        ready_path: str = "",
        extra_env: dict | None = None,
        extra_args: Sequence[str] = (),
    ):
        self.workers, self.threads, self.queue = workers, threads, queue
        self.app_name, self.ready_path = app_name, ready_path
        self.extra_env, self.extra_args = dict(extra_env or {}), list(extra_args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = tempfile.TemporaryDirectory(prefix=f"bench-{name}-")
        self.log = Path(self.dir.name) / "granian.log"
        self.proc: subprocess.Popen | None = None
        self.memory = Memory()

    @property
    def kind(self) -> str:
        return f"granian wsgi {self.workers} x {self.threads} thread(s), keep-alive"

    def start(self, timeout: float = 60.0) -> None:
        broker = redis_url()
        url = os.environ["DATABASE_URL"]  # the benchmark database (setup())
        if self.app_name:
            url = f"{url}{'&' if '?' in url else '?'}application_name={self.app_name}"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DEBUG": "false",
            "CONN_MAX_AGE": str(CONN_MAX_AGE),
            "SMS_BACKEND": "outbox",
            "CELERY_BROKER_URL": broker,
            "REDIS_URL": os.environ.get("REDIS_URL") or broker,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "BENCH_CELERY_QUEUE": self.queue,
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # bench/_wsgi.py by its module name, the project beside it
            "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), str(ROOT)]),
            **self.extra_env,
        }
        cmd = [
            sys.executable,
            "-m",
            "granian",
            "--interface=wsgi",
            "--host=127.0.0.1",
            f"--port={self.port}",
            f"--workers={self.workers}",
            f"--blocking-threads={self.threads}",
            "--runtime-threads=1",
            "--http=1",
            "--no-ws",
            "--log-level=warning",
            *self.extra_args,
            "_wsgi:application",
        ]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"granian exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self._answers():
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"granian did not answer within {timeout:.0f} s:\n{self.log_tail()}")
        # Every worker imports the project before it serves: wait until all of them are up.
        while len(self.worker_pids()) < self.workers and time.monotonic() < deadline:
            time.sleep(0.2)

    def _answers(self) -> bool:
        if self.ready_path:
            import requests

            try:
                return requests.get(self.url + self.ready_path, timeout=2).status_code < 500
            except requests.RequestException:
                return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def worker_pids(self) -> list[int]:
        return children_of(self.proc.pid) if self.proc is not None else []

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log, lines)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.memory = memory_of(self.worker_pids())  # the workers' peaks, before they exit
            terminate(self.proc)
        self.dir.cleanup()


# --- output -----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser, *, seconds: float = 5.0, rounds: int = 3) -> None:
    parser.add_argument(
        "--seconds", type=float, default=seconds, help=f"seconds per measurement (default {seconds})"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=rounds,
        help=f"rounds of all measurements, interleaved; the median is reported (default {rounds})",
    )
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the benchmark database")


def fmt(value) -> str:
    """Numbers for people: thousands separated, 3 decimals below 10, 2 below 100, then 1."""
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        digits = 3 if abs(value) < 10 else 2 if abs(value) < 100 else 1
        return f"{value:,.{digits}f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence], *, title: str | None = None) -> None:
    """A plain-text table; numbers right-aligned, text left-aligned."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(headers))]

    def line(values):
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    if title:
        print(title)
    print(line([str(h) for h in headers]))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(line(row))
    sys.stdout.flush()


def print_json(obj: dict) -> None:
    """The machine-readable result: one JSON object, the last line of the output."""
    sys.stderr.flush()
    sys.stdout.flush()
    print(json.dumps(obj, separators=(", ", ": "), default=str), flush=True)


def machine() -> dict:
    load1, load5, _ = os.getloadavg()
    return {"cpus": os.cpu_count(), "loadavg_1m": round(load1, 2), "loadavg_5m": round(load5, 2)}
