"""Merchant payments end to end through the HTTP APIs: complete flows per second (the shop creates
a payment, the customer initiates it and confirms it with the SMS PIN) against the ledger's raw-SQL
transfer measured in the same run.

    .venv/bin/python bench/payments.py [--seconds 15] [--rounds 3] [--clients 8]
                                       [--server-workers 3] [--threads 1] [--prime 3] [--profile N]
                                       [--fresh]

Set-up (in the `<name>_bench` database of bench/_common.py): one active merchant with a secret API
key, a webhook URL (events and deliveries are written, as in production) and a 1.5% commission paid
by the merchant (so every payment is a three-leg entry: wallet, merchant, fee revenue); N customers
with verified phones, active wallets in the verified tier (their daily and monthly limits raised
for the run, still checked by the ledger's conditional UPDATE), an email (receipts go by email),
funded from terminal cash clearing.

The platform runs under granian (bench/_wsgi.py: config.wsgi, as the Dockerfile serves it) on a
free 127.0.0.1 port, 3 workers of one thread, connections kept alive: DEBUG off, persistent
database connections (CONN_MAX_AGE), SMS_BACKEND=outbox, Celery publishing to the local Redis on a private
queue that nobody consumes (deleted at the end), so PINs stay in their pending notification row.

N client processes (one customer each; per side one kept-alive connection of _common.JsonClient,
a lean http.client wrapper, so that the clients take little of the CPU they share with the server)
repeat:

1. POST /api/merchant/v1/payments/           (the shop: Bearer key, Idempotency-Key)
2. POST /api/v1/payments/<id>/initiate/       (the customer's app: Token, terms_accepted)
3. read the PIN from the pending SMS row      (the test harness standing in for the phone)
4. POST /api/v1/payments/<id>/confirm/        (the PIN)

Before the first round, --prime seconds of uncounted flows; before each round, the tables of a flow
are analyzed (FLOW_TABLES: autovacuum is off on this server, and prepared statements keep the plan
made from the statistics they saw). Per-request latencies (p50/p99) cover 1, 2 and 4; the PIN
lookup is reported apart. Flows per second are complete flows (lookup included) over the measured
time. The raw-SQL baseline is bench/ledger.py's hand-written transfer at the same number of
workers, interleaved with the flow measurements round by round; the figure is ratio_to_raw_sql =
flows_per_s / raw transfers per s.
Targets: ratio >= 0.08 and p99 per request < 100 ms. CPU per flow is split between the clients,
the server workers and their PostgreSQL backends, to show where the time goes.

--profile N first runs N flows in this process through Django's test Client (no HTTP server; add
--rounds 0 for this alone): the SQL statements of each request, the Python CPU per request, and a
cProfile (CPU timer; its overhead inflates call-heavy code such as the ORM) split by part of the
flow. --server-profile DIR cProfiles every server worker instead (worker-<pid>.prof files).
The table also shows how many of the server's PostgreSQL backends wait for a row lock (sampled).

Peak memory: just before the server stops, the VmHWM of every server worker (web_peak_rss_mb: the
largest; web_peak_rss_mb_sum: all of them).

Prints a table and, last, one JSON line (flows_per_s, p50_ms, p99_ms, ratio_to_raw_sql, ...). Exits
0 whatever the timings; 1 if a flow failed or the ledger's integrity checks found a violation.
"""

from __future__ import annotations

import argparse
import inspect
import math
import multiprocessing
import os
import re
import statistics
import sys
import time
import traceback
from array import array
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from queue import Empty

import _common

PASSWORD = "Sunce-nad-Dunavom-42"
FUNDING = 10**11  # per customer: far more than any run spends (400,000 flows)
LIMIT = 10**13  # raised tier limits for the run (still checked in SQL on every debit)
COMMISSION_BP = 150  # 1.5%, paid by the merchant
ITEMS = [  # what the shop sells: two lines and shipping, 2,320.00 RSD in all
    {"name": "Na Drini ćuprija", "quantity": 2, "unit_price": 100_000, "tax_rate": 1000},
    {"name": "Bookmark", "quantity": 1, "unit_price": 2_000, "tax_rate": 2000},
]
SHIPPING = 30_000
AMOUNT = sum(i["quantity"] * i["unit_price"] for i in ITEMS) + SHIPPING
RATIO_TARGET = 0.08
P99_TARGET_MS = 100.0
BUSY = 0.2
PIN = re.compile(r"PIN (\d{6})")
REQUESTS = ("create", "initiate", "confirm")


# --- set-up ------------------------------------------------------------------------------------


@dataclass
class Setup:
    run: str
    currency: str
    merchant_id: int
    api_key: str
    customers: list[tuple[int, str]]  # (user id, phone E.164)
    pairs: list[tuple[int, int]]  # raw-SQL baseline: (payer, payee) wallet ids
    seconds: float = 0.0


def free_pib() -> str:
    """A valid PIB (check digit by ISO 7064 MOD 11,10) that no merchant has yet: it is unique."""
    import random

    from merchants.models import Merchant

    rng = random.SystemRandom()
    while True:
        body = f"1{rng.randint(0, 9_999_999):07d}"
        total = 10
        for digit in body:
            total = (total + int(digit)) % 10 or 10
            total = (total * 2) % 11
        pib = body + str((11 - total) % 10)
        if not Merchant.objects.filter(tax_id=pib).exists():
            return pib


def prepare(clients: int, run: str) -> Setup:
    import ledger as ledger_bench  # bench/ledger.py: the raw-SQL baseline's wallets
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from merchants import payments, services
    from tariffs import fees
    from tariffs import services as tariffs
    from wallet import customers, ledger
    from wallet import services as wallet_services
    from wallet.models import Account, User

    started = time.perf_counter()
    currency = settings.PLATFORM_CURRENCY
    merchant = services.onboard_merchant(
        legal_name=f"Knjižara Bench {run}",
        registration_number="07004044",
        tax_id=free_pib(),
        address="Resavska 33, Beograd",
        contact_email="shop@example.com",
        category="retail",
        webhook_url="http://127.0.0.1:9/bench-webhooks",  # recorded, never delivered (no worker)
        currency=currency,
    )
    services.activate_merchant(merchant=merchant)
    _, api_key = services.create_api_key(merchant=merchant, name="bench")
    tariffs.publish_version(
        service=payments.service_code(merchant),
        currency=currency,
        valid_from=timezone.now() - timedelta(minutes=1),
        percent_bp=COMMISSION_BP,
        bearer=fees.PAYEE,
    )

    clearing = wallet_services.system_account_id("terminal_cash_clearing", currency)
    users = _common.new_customers(clients, tag="Bench")
    hashed = make_password(PASSWORD)  # once: the same password's hash verifies for every user
    now = timezone.now()
    rows = []
    for i, user in enumerate(users):
        User.objects.filter(pk=user.pk).update(
            password=hashed,
            last_name=f"Kupac {i}",
            email=f"bench-{run}-{i}@example.com",
            phone_verified_at=now,
        )
        wallet = customers.open_customer_wallet(user=user, status=Account.Status.ACTIVE, currency=currency)
        customers.set_tier(user=user, tier="verified")
        # The verified tier's daily and monthly limits would stop a long run: raised, not removed
        # (the ledger's conditional UPDATE still checks every limit on every debit).
        Account.objects.filter(pk=wallet.pk).update(daily_limit=LIMIT, monthly_limit=LIMIT)
        wallet.refresh_from_db()
        # A platform top-up far above the tier's largest single operation (tests.factories.fund
        # checks limits; a payment then checks them again, as in production).
        ledger.post(
            kind="topup",
            reference=f"bench-{run}-pay-fund-{i}",
            currency=currency,
            legs=[(clearing, -FUNDING), (wallet.pk, FUNDING)],
            enforce_limits=False,
        )
        rows.append((user.pk, str(user.phone)))

    _, pairs, _ = ledger_bench.prepare(clients, run)
    _common.analyze(*FLOW_TABLES)
    return Setup(
        run=run,
        currency=currency,
        merchant_id=merchant.pk,
        api_key=api_key,
        customers=rows,
        pairs=pairs,
        seconds=time.perf_counter() - started,
    )


def order_body(order_id: str, currency: str) -> dict:
    return {
        "order_id": order_id,
        "amount": AMOUNT,
        "currency": currency,
        "items": ITEMS,
        "shipping": SHIPPING,
        "description": "Books",
        "return_url": "https://shop.example/return",
        "cancel_url": "https://shop.example/cancel",
    }


# The tables a flow writes or reads. This server runs with autovacuum off, so the benchmark
# analyzes them itself before each measurement, as autovacuum's auto-analyze would in production.
# That matters: the hot path's statements are server-side prepared (config.prepared) and a session
# keeps a statement's generic plan until the table's statistics change. Planned while a new
# database's tables are nearly empty, that plan is a sequential scan, and it stays one as the
# tables grow: PostgreSQL's CPU per flow went from 8 to 21 ms over two 10-second rounds.
FLOW_TABLES = (
    "wallet_account",
    "wallet_entry",
    "wallet_posting",
    "wallet_balancedelta",
    "wallet_phonepin",
    "wallet_idempotencyrecord",
    "merchants_paymentrequest",
    "merchants_lineitem",
    "notifications_notification",
    "notifications_webhookevent",
    "notifications_webhookdelivery",
)


def _whole(value: float) -> int | float:
    """Microseconds for the table: whole, or NaN (printed "-") when no flow completed."""
    return value if math.isnan(value) else round(value)


# --- the server --------------------------------------------------------------------------------


# --- the clients -------------------------------------------------------------------------------


class Client:
    """One customer's phone and the shop's server, as seen from one client process."""

    def __init__(self, setup: Setup, index: int, base_url: str):
        self.index = index
        self.base = base_url
        self.currency = setup.currency
        self.user_id, self.phone = setup.customers[index]
        self.prefix = f"{setup.run}-w{index}-p{os.getpid()}-"
        self.counter = 0
        self.shop = _common.JsonClient(base_url, {"Authorization": f"Bearer {setup.api_key}"})
        self.app = _common.JsonClient(base_url)
        login = self.app.post("/api/v1/auth/token/", {"phone": self.phone, "password": PASSWORD})
        self._expect(login, 200, "token login")
        self.app.headers["Authorization"] = f"Token {login.json()['token']}"
        self.pg = _common.raw_connection()
        self.pg.autocommit = True
        self.cur = self.pg.cursor()
        self.cur.execute("SET application_name = 'bench-payments-pin'")
        # Prepared: planning the look-up cost PostgreSQL more CPU than running it (the machine the
        # server shares).
        # By creation time, not id: each server worker's session takes its ids ahead, in batches
        # (config.prepared.Ids), so a newer row may have a smaller id than one from another worker.
        self.cur.execute(
            "PREPARE pin_sms (timestamptz, bigint, text) AS SELECT created_at, body"
            " FROM notifications_notification WHERE created_at > $1 AND user_id = $2"
            " AND template = 'phone_pin' AND channel = 'sms' AND to_phone = $3"
            " ORDER BY created_at DESC LIMIT 1"
        )
        self.cur.execute("SELECT now()")
        (self.seen,) = self.cur.fetchone()

    @staticmethod
    def _expect(response, status: int, what: str) -> dict:
        if response.status_code != status:
            raise AssertionError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
        return response.json()

    def pin(self) -> str:
        """The PIN in the newest pending SMS to this customer (rows newer than the last one read)."""
        self.cur.execute("EXECUTE pin_sms (%s, %s, %s)", (self.seen, self.user_id, self.phone))
        row = self.cur.fetchone()
        if row is None:
            raise AssertionError("no PIN SMS was recorded for this payment")
        self.seen = row[0]
        found = PIN.search(row[1])
        if found is None:
            raise AssertionError(f"no PIN in the SMS {row[1]!r}")
        return found.group(1)

    def flow(self) -> tuple[float, float, float, float]:
        """One payment from creation to confirmation: (create, initiate, pin lookup, confirm) s."""
        self.counter += 1
        order_id = f"{self.prefix}{self.counter}"
        t0 = time.perf_counter()
        created = self.shop.post(
            "/api/merchant/v1/payments/",
            order_body(order_id, self.currency),
            headers={"Idempotency-Key": f"create-{order_id}"},
        )
        t1 = time.perf_counter()
        payment = self._expect(created, 201, "create")["id"]
        t2 = time.perf_counter()
        initiated = self.app.post(f"/api/v1/payments/{payment}/initiate/", {"terms_accepted": True})
        t3 = time.perf_counter()
        if self._expect(initiated, 200, "initiate")["status"] != "pin_sent":
            raise AssertionError(f"initiate: {initiated.text[:300]}")
        t4 = time.perf_counter()
        pin = self.pin()
        t5 = time.perf_counter()
        confirmed = self.app.post(f"/api/v1/payments/{payment}/confirm/", {"pin": pin})
        t6 = time.perf_counter()
        if self._expect(confirmed, 200, "confirm")["status"] != "succeeded":
            raise AssertionError(f"confirm: {confirmed.text[:300]}")
        return t1 - t0, t3 - t2, t5 - t4, t6 - t5

    def close(self) -> None:
        self.shop.close()
        self.app.close()
        self.pg.close()


def _client_worker(setup, index, base_url, seconds, warmup, barrier, queue):
    from django.db import connections

    samples = {k: array("d") for k in (*REQUESTS, "pin")}
    flows = errors = 0
    first_error = None
    started = ended = cpu = 0.0
    try:
        connections.close_all()
        client = Client(setup, index, base_url)
        until = time.monotonic() + warmup
        while time.monotonic() < until:
            client.flow()
        barrier.wait(timeout=300)
        started = time.monotonic()
        cpu0 = time.process_time()
        deadline = started + seconds
        while time.monotonic() < deadline:
            try:
                create, initiate, pin, confirm = client.flow()
            except Exception:  # noqa: BLE001 - counted and reported; the benchmark goes on
                errors += 1
                first_error = first_error or traceback.format_exc()
                if errors >= 20:
                    break
                continue
            flows += 1
            samples["create"].append(create)
            samples["initiate"].append(initiate)
            samples["pin"].append(pin)
            samples["confirm"].append(confirm)
        ended = time.monotonic()
        cpu = time.process_time() - cpu0
        client.close()
    except BaseException:  # noqa: BLE001 - the parent reports it
        errors += 1
        first_error = first_error or traceback.format_exc()
        barrier.abort()
    chunks = {k: v.tobytes() for k, v in samples.items()}
    queue.put((index, started, ended, flows, errors, first_error, cpu, chunks))


@dataclass
class FlowRun:
    flows: int
    errors: int
    elapsed: float
    samples: dict[str, array]
    first_error: str | None = None
    client_cpu: float = 0.0
    server_cpu: float | None = None  # server workers
    db_cpu: float | None = None  # their PostgreSQL backends
    machine_busy: float | None = None
    lock_waiters: float = math.nan  # mean number of server backends waiting for a lock
    statements: dict | None = None  # PgStatements.per_flow: execution time per flow, by statement

    @property
    def flows_per_s(self) -> float:
        return self.flows / self.elapsed if self.elapsed > 0 else 0.0

    def per_flow_us(self, cpu: float | None) -> float:
        return cpu / self.flows * 1e6 if cpu is not None and self.flows else math.nan

    @property
    def other_load(self) -> float:
        """Share of the machine's CPU used by everything else (the PIN lookups' backends included)."""
        known = [self.client_cpu, self.server_cpu, self.db_cpu]
        if self.machine_busy is None or None in known or not self.elapsed:
            return math.nan
        return max(0.0, self.machine_busy - sum(known)) / (self.elapsed * (os.cpu_count() or 1))


def _db_backends(app_name: str) -> list[int]:
    """The server workers' PostgreSQL backends (by their application_name: other sessions may
    use the same benchmark database meanwhile)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [app_name])
        return [pid for (pid,) in cursor.fetchall()]


def _lock_waiters(app_name: str) -> int:
    """How many of the server's PostgreSQL backends wait for a lock (a row lock: another
    transaction holds the row) right now."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
            [app_name],
        )
        return cursor.fetchone()[0]


def run_flows(
    setup: Setup,
    server: _common.Server,
    *,
    clients: int,
    seconds: float,
    warmup: float,
    backends: BackendCpu | None = None,
    statements: PgStatements | None = None,
) -> FlowRun:
    """The clients' flows: `warmup` uncounted seconds, then `seconds` measured. The server's CPU,
    its backends' (`backends`) and their statements' execution (`statements`) are taken across
    the measured seconds alone."""
    from django.db import connections

    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(clients + 1)  # the parent too: it starts the CPU accounting
    queue = ctx.Queue()
    procs = [
        ctx.Process(
            target=_client_worker, args=(setup, i, server.url, seconds, warmup, barrier, queue), daemon=True
        )
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    cpu0 = busy0 = None
    workers: list[int] = []
    try:
        barrier.wait(timeout=300)
        workers = server.worker_pids()
        busy0 = _common._machine_busy()
        cpu0 = _common.cpu_seconds(workers)
        if backends is not None:
            backends.snapshot()
        if statements is not None:
            statements.snapshot()
    except Exception:  # noqa: BLE001 - a client failed before the start: its report says why
        pass
    reports = []
    waits = array("d")  # server backends waiting for a lock, sampled while the clients run
    limit = time.monotonic() + seconds + warmup + 600
    while len(reports) < clients and time.monotonic() < limit:
        try:
            reports.append(queue.get(timeout=0.05))
        except Empty:
            if cpu0 is not None and not reports:
                waits.append(_lock_waiters(server.app_name))
        except Exception:  # noqa: BLE001 - a client died without a word
            break
    cpu1, busy1 = _common.cpu_seconds(workers), _common._machine_busy()
    db_cpu = backends.since() if backends is not None and cpu0 is not None else None
    if statements is not None and cpu0 is not None:
        statements.measure()
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.terminate()
    samples = {k: array("d") for k in (*REQUESTS, "pin")}
    flows = errors = 0
    first_error = None
    starts, ends, client_cpu = [], [], 0.0
    for _index, started, ended, n, errs, err, cpu, chunks in sorted(reports, key=lambda r: r[0]):
        for k, raw in chunks.items():
            chunk = array("d")
            chunk.frombytes(raw)
            samples[k].extend(chunk)
        flows += n
        errors += errs
        first_error = first_error or err
        client_cpu += cpu
        if started and ended:
            starts.append(started)
            ends.append(ended)
    if len(reports) < clients:
        errors += clients - len(reports)
        first_error = first_error or f"{clients - len(reports)} client(s) died without reporting"
    return FlowRun(
        flows=flows,
        errors=errors,
        elapsed=(max(ends) - min(starts)) if starts else 0.0,
        samples=samples,
        first_error=first_error,
        client_cpu=client_cpu,
        server_cpu=(cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None,
        db_cpu=db_cpu,
        machine_busy=(busy1 - busy0) if busy0 is not None and busy1 is not None else None,
        lock_waiters=statistics.mean(waits) if waits else math.nan,
    )


class BackendCpu:
    """CPU of the server workers' PostgreSQL backends across the measured seconds of one flow run
    (the warm-up's left out, as for the server's CPU). They persist from round to round
    (CONN_MAX_AGE), so a snapshot at the start and one at the end are enough (a backend opened
    meanwhile counts whole)."""

    def __init__(self, app_name: str):
        self.app_name = app_name
        self.before: dict[int, float] = {}

    def snapshot(self) -> None:
        pids = _db_backends(self.app_name)
        self.before = {pid: cpu for pid in pids if (cpu := _common._process_cpu(pid)) is not None}

    def since(self) -> float:
        total = 0.0
        for pid in _db_backends(self.app_name):
            cpu = _common._process_cpu(pid)
            if cpu is not None:
                total += cpu - self.before.get(pid, 0.0)
        return total


class PgStatements:
    """What the server's prepared statements cost PostgreSQL to execute (pg_stat_statements:
    total_exec_time, planning included), against what its backends spent in all (BackendCpu):
    the difference is each round trip's and transaction's own cost (protocol, wake-ups, COMMIT).
    Only where the server preloads pg_stat_statements (shared_preload_libraries); otherwise the
    table says how to turn it on. The raw-SQL baseline prepares nothing, so the statements named
    by PREPARE are the flows' alone."""

    QUERY = (
        "SELECT queryid, calls, total_exec_time + total_plan_time,"
        " substring(query from '^PREPARE ([a-z0-9_]+)') FROM pg_stat_statements"
        " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND query LIKE 'PREPARE %' AND query NOT LIKE 'PREPARE pin_sms %'"  # the clients' PIN look-up
    )

    def __init__(self):
        from django.db import DatabaseError, connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('shared_preload_libraries')")
            self.available = "pg_stat_statements" in cursor.fetchone()[0]
        if self.available:
            try:  # a role that may not create the extension gets the hint instead of a failed run
                with connection.cursor() as cursor:
                    cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            except DatabaseError:
                self.available = False
        self.before: dict[int, tuple[int, float, str]] = {}
        self.delta: dict[str, tuple[int, float]] = {}

    def _read(self) -> dict[int, tuple[int, float, str]]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(self.QUERY)
            return {qid: (calls, ms, name) for qid, calls, ms, name in cursor.fetchall()}

    def snapshot(self) -> None:
        if self.available:
            self.before = self._read()

    def measure(self) -> None:
        if not self.available:
            return
        delta: dict[str, tuple[int, float]] = {}
        for qid, (calls, ms, name) in self._read().items():
            calls0, ms0, _ = self.before.get(qid, (0, 0.0, name))
            if calls > calls0:
                n, total = delta.get(name, (0, 0.0))
                delta[name] = (n + calls - calls0, total + ms - ms0)
        self.delta = delta

    def per_flow(self, flows: int) -> dict[str, tuple[float, float]]:
        """statement -> (calls per flow, execution us per flow)."""
        if not flows:
            return {}
        return {name: (calls / flows, ms * 1000 / flows) for name, (calls, ms) in self.delta.items()}


# --- in-process profile ------------------------------------------------------------------------

# The parts of a flow that --profile reports: (label, module, attribute). Each is timed twice: by
# thread CPU, wrapping the function once with time.thread_time() (about a microsecond a call), and
# by cProfile, whose per-call overhead inflates call-heavy code several times over (phonenumbers'
# parse: 20 us in timeit, a hundred in cProfile). The first column is the one to plan by.
PARTS = [
    ("Django's handler (middleware, URL, view)", "django.core.handlers.base", "BaseHandler.get_response"),
    ("  DRF dispatch (the view)", "rest_framework.views", "APIView.dispatch"),
    ("  DRF authentication (API key / token)", "rest_framework.request", "Request._authenticate"),
    ("  request bodies validated (config.api.validated)", "config.api", "validated"),
    ("  answers built (payment_body)", "merchants.serializers", "payment_body"),
    ("  create: payments.create_payment", "merchants.payments", "create_payment"),
    ("  initiate: payments.initiate_payment", "merchants.payments", "initiate_payment"),
    ("    tariff quote", "tariffs.services", "quote"),
    ("    pins.send_pin (PIN + SMS row)", "wallet.pins", "send_pin"),
    ("  confirm: payments.confirm_payment", "merchants.payments", "confirm_payment"),
    ("    pins.use_pin", "wallet.pins", "use_pin"),
    ("    ledger.post", "wallet.ledger", "post"),
    ("    webhook event + delivery rows", "notifications.webhooks", "enqueue"),
    ("    receipt_context", "merchants.payments", "receipt_context"),
    ("  payment row looked up and locked (_locked_for)", "merchants.payments", "_locked_for"),
    ("  notifications recorded (render + row)", "notifications.services", "record"),
    ("    templates rendered", "notifications.rendering", "render"),
    ("  deferred transitions (_save)", "merchants.payments", "_save"),
    ("  prepared statements (client side, round trips)", "config.prepared", "Statements.execute"),
    ("  any statement: Django's cursor + psycopg2", "django.db.backends.utils", "CursorWrapper._execute"),
    ("  ORM queries: compile + run + fetch", "django.db.models.sql.compiler", "SQLCompiler.execute_sql"),
    ("  COMMIT", "django.db.backends.base.base", "BaseDatabaseWrapper.commit"),
    ("  after commit: RPUSH onto the relay list", "notifications.relay", "hand_over"),
    ("  after commit: notices' ready list", "notifications.services", "mark_ready"),
]


def _resolve(module: str, attribute: str):
    """(owner, name, function) of `attribute` ("f" or "Class.method") in `module`."""
    import importlib

    owner = importlib.import_module(module)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, name, getattr(owner, name)


def _pstats_key(function) -> tuple[str, int, str]:
    """The function's key in pstats (file, first line, name), through its decorators."""
    code = inspect.unwrap(function).__code__
    return code.co_filename, code.co_firstlineno, code.co_name


class StepTimer:
    """Thread CPU per part of PARTS, inclusive (parts nest): every reference to each
    function, the module's own and those imported by name into the project's modules, is
    replaced by a timing wrapper until restore()."""

    PROJECT = ("config", "wallet", "tariffs", "notifications", "vouchers", "terminals", "merchants")

    def __init__(self, parts):
        self.totals = {label: 0.0 for label, _, _ in parts}
        self.calls = dict.fromkeys(self.totals, 0)
        self._undo = []
        modules = [
            m for name, m in list(sys.modules.items()) if m is not None and name.split(".")[0] in self.PROJECT
        ]
        for label, module, attribute in parts:
            owner, name, original = _resolve(module, attribute)
            wrapper = self._timed(label, original)
            self._replace(owner, name, original, wrapper)
            if "." not in attribute:  # a module-level function: the copies imported by name as well
                for m in modules:
                    for key, value in list(vars(m).items()):
                        if value is original:
                            self._replace(m, key, original, wrapper)

    def _timed(self, label, function):
        clock, totals, calls = time.thread_time, self.totals, self.calls

        def timed(*args, **kwargs):
            started = clock()
            try:
                return function(*args, **kwargs)
            finally:
                totals[label] += clock() - started
                calls[label] += 1

        return timed

    def _replace(self, owner, name, original, wrapper):
        setattr(owner, name, wrapper)
        self._undo.append((owner, name, original))

    def restore(self):
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo = []


def profile(setup: Setup, flows: int, top: int = 30, dump: str = "") -> dict:
    """N flows through Django's test Client in this process: SQL per request and a cProfile."""
    import cProfile
    import io
    import pstats

    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from config.celery import app as celery_app

    celery_app.conf.task_default_queue = f"bench-payments-{setup.run}-profile"
    user_id, phone = setup.customers[0]
    token, _ = Token.objects.get_or_create(user_id=user_id)
    shop = DjangoClient(HTTP_AUTHORIZATION=f"Bearer {setup.api_key}")
    app = DjangoClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM notifications_notification")
        (seen,) = cursor.fetchone()

    def pin() -> str:
        nonlocal seen
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, body FROM notifications_notification WHERE id > %s AND user_id = %s"
                " AND template = 'phone_pin' ORDER BY id DESC LIMIT 1",
                (seen, user_id),
            )
            seen, body = cursor.fetchone()
        return PIN.search(body).group(1)

    counter = 0

    def one(capture: bool, profiler=None):
        nonlocal counter
        counter += 1
        order_id = f"{setup.run}-prof-{counter}"
        out = {}

        def call(name, do):
            t0, c0 = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            if capture:
                with CaptureQueriesContext(connection) as ctx:
                    response = do()
                out[name] = [q["sql"] for q in ctx.captured_queries]
            else:
                response = do()
            if profiler:
                profiler.disable()
            out[name + "_s"] = time.perf_counter() - t0
            out[name + "_cpu"] = time.process_time() - c0
            if response.status_code not in (200, 201):
                raise AssertionError(f"{name}: {response.status_code} {response.content[:300]!r}")
            return response.json()

        payment = call(
            "create",
            lambda: shop.post(
                "/api/merchant/v1/payments/",
                order_body(order_id, setup.currency),
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY=f"create-{order_id}",
            ),
        )["id"]
        call(
            "initiate",
            lambda: app.post(
                f"/api/v1/payments/{payment}/initiate/",
                {"terms_accepted": True},
                content_type="application/json",
            ),
        )
        code = pin()
        call(
            "confirm",
            lambda: app.post(
                f"/api/v1/payments/{payment}/confirm/", {"pin": code}, content_type="application/json"
            ),
        )
        return out

    for _ in range(20):  # warm caches (templates, account flags, system account ids)
        one(False)
    captured = [one(True) for _ in range(max(1, flows // 10))]
    counts = {name: statistics.median(len(c[name]) for c in captured) for name in REQUESTS}
    print("\nSQL statements per request (in-process, Django test Client, median):")
    for name in REQUESTS:
        print(f"\n  {name}: {counts[name]:g} statements")
        for sql in captured[-1][name]:
            print(f"    {sql[:160]}")
    timed = [one(False) for _ in range(flows)]  # timed without the profiler's overhead
    steps = StepTimer(PARTS)
    try:
        stepped = [one(False) for _ in range(flows)]
    finally:
        steps.restore()
    whole = statistics.mean(sum(t[name + "_cpu"] for name in REQUESTS) for t in stepped) * 1e6
    profiler = cProfile.Profile(time.process_time)  # CPU, not wall time: steadier on a busy machine
    for _ in range(flows):
        one(False, profiler)
    if dump:
        profiler.dump_stats(dump)
    ms = {name: statistics.median(t[name + "_s"] for t in timed) * 1000 for name in REQUESTS}
    cpu_ms = {name: statistics.mean(t[name + "_cpu"] for t in timed) * 1000 for name in REQUESTS}
    print(
        "\nin-process, one process, no HTTP server: elapsed per request (median ms) "
        + ", ".join(f"{k} {v:.2f}" for k, v in ms.items())
        + "; Python CPU per request (mean ms) "
        + ", ".join(f"{k} {v:.2f}" for k, v in cpu_ms.items())
    )
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = [
        ["the three requests (Django test Client)", round(whole), round(stats.total_tt / flows * 1e6), ""]
    ]
    for label, module, attribute in PARTS:
        row = stats.stats.get(_pstats_key(_resolve(module, attribute)[2]))
        rows.append(
            [
                label,
                round(steps.totals[label] / flows * 1e6),
                round(row[3] / flows * 1e6) if row else 0,
                round(steps.calls[label] / flows, 1),
            ]
        )
    print()
    _common.print_table(
        ["part of a flow (inclusive; parts overlap)", "thread CPU us", "cProfile us", "calls"],
        rows,
        title=f"Where the Python CPU goes, per flow (in-process, {flows} flows each way): thread CPU with no"
        " profiler, and cProfile, whose overhead inflates call-heavy code",
    )
    for order in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(order).print_stats(top)
        print(f"\ncProfile of {flows} flows (3 requests each), by {order}:")
        print("\n".join(line for line in text.getvalue().splitlines() if line.strip())[:12000])
    from django.db import connections

    connections.close_all()
    _common.delete_queue(celery_app.conf.task_default_queue)
    return {
        "queries": counts,
        "in_process_ms": {k: round(v, 3) for k, v in ms.items()},
        "in_process_cpu_ms": {k: round(v, 3) for k, v in cpu_ms.items()},
    }


def _print_statements(flow_rounds: list[FlowRun]) -> None:
    """The server's statements by PostgreSQL's execution time per flow (mean of the rounds), and
    what its backends' CPU per flow spent beyond executing them (median of the rounds, as the
    other CPU figures)."""
    measured = [f for f in flow_rounds if f.statements]
    if not measured:
        return
    names = sorted({name for f in measured for name in f.statements})
    rows = []
    for name in names:
        calls = statistics.mean(f.statements.get(name, (0.0, 0.0))[0] for f in measured)
        us = statistics.mean(f.statements.get(name, (0.0, 0.0))[1] for f in measured)
        rows.append([name, round(calls, 2), round(us), round(us / calls) if calls else "-"])
    rows.sort(key=lambda r: -r[2])
    executed = [sum(us for _, us in f.statements.values()) for f in measured]
    beyond = [f.per_flow_us(f.db_cpu) - e for f, e in zip(measured, executed, strict=True)]
    beyond = [b for b in beyond if not math.isnan(b)]
    rows.append(["all of them: executing", "", round(statistics.median(executed)), ""])
    rows.append(
        [
            "backends' CPU per flow, beyond executing them",
            "",
            round(statistics.median(beyond)) if beyond else "-",
            "",
        ]
    )
    print()
    _common.print_table(
        ["prepared statement", "calls per flow", "exec us per flow", "us per call"],
        rows,
        title="PostgreSQL's time per statement (pg_stat_statements, planning included)",
    )


# --- main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _common.add_arguments(parser, seconds=15.0, rounds=3)
    parser.add_argument("--clients", type=int, default=8, help="concurrent customers (default 8)")
    parser.add_argument(
        "--server-workers",
        type=int,
        default=3,
        help="server worker processes (default 3, on 2 cores shared with 8 clients and PostgreSQL)",
    )
    parser.add_argument("--threads", type=int, default=1, help="threads per server worker (default 1)")
    parser.add_argument(
        "--raw-seconds", type=float, default=5.0, help="seconds per raw-SQL measurement (default 5)"
    )
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="uncounted seconds before each flow run (default 2)"
    )
    parser.add_argument(
        "--prime",
        type=float,
        default=3.0,
        help="uncounted seconds of flows before the first round, so that the tables are analyzed with"
        " rows in them (default 3; 0: none)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also run N flows in-process: SQL per request and cProfile",
    )
    parser.add_argument("--profile-out", default="", metavar="FILE", help="write the cProfile data to FILE")
    parser.add_argument(
        "--server-profile",
        default="",
        metavar="DIR",
        help="cProfile every server worker; worker-<pid>.prof files in DIR (slows the server)",
    )
    args = parser.parse_args()
    n = args.clients
    # What the server runs with (granian inherits it; --profile runs in this process).
    broker = _common.redis_url()
    os.environ.update(
        {
            "SMS_BACKEND": "outbox",
            "CELERY_BROKER_URL": broker,
            "REDIS_URL": os.environ.get("REDIS_URL") or broker,
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
    )

    t0 = time.perf_counter()
    db = _common.setup(fresh=args.fresh)
    import ledger as ledger_bench

    run = _common.run_id()
    setup = prepare(n, run)
    queue = f"bench-payments-{run}"
    profile_dir = ""
    if args.server_profile:
        Path(args.server_profile).mkdir(parents=True, exist_ok=True)
        profile_dir = str(Path(args.server_profile).resolve())
    server = _common.Server(
        name="payments",
        workers=args.server_workers,
        threads=args.threads,
        queue=queue,
        app_name=queue,  # the workers' PostgreSQL application_name: their backends are found by it
        ready_path="/healthz",
        extra_env={"BENCH_SERVER_PROFILE": profile_dir},
    )
    print(
        f"payments bench: database {db.name} ({db.state}, migrate {db.migrate_seconds:.1f} s), run {run},"
        f" set-up {setup.seconds:.1f} s, {args.rounds} round(s) x {args.seconds:g} s flows"
        f" + {args.raw_seconds:g} s raw SQL, {n} clients, {server.kind}, {_common.machine()}",
        flush=True,
    )

    profiled = profile(setup, args.profile, dump=args.profile_out) if args.profile else None
    if args.rounds == 0:  # the in-process profile alone: no server, no figures to print
        server.stop()
        return 0

    flow_rounds: list[FlowRun] = []
    raw_rounds: list[_common.RunResult] = []
    backends = BackendCpu(server.app_name)
    statements = PgStatements()
    try:
        server.start()
        if args.prime:  # a new database's tables fill before the statistics that plan the rounds
            run_flows(setup, server, clients=n, seconds=args.prime, warmup=0.0)
        for r in range(args.rounds):
            order = ("flows", "raw") if r % 2 == 0 else ("raw", "flows")
            for what in order:
                if what == "raw":
                    result = _common.run_workers(
                        ledger_bench.make_raw_op(setup.pairs, setup.currency, f"bench-{run}-raw-r{r}"),
                        workers=n,
                        seconds=args.raw_seconds,
                        label="raw SQL (psycopg2)",
                    )
                    raw_rounds.append(result)
                    print(
                        f"  round {r + 1} raw SQL   {n} workers: {result.ops_per_s:8.1f} transfers/s"
                        f"  p50 {result.percentile_ms(50):6.2f} ms  p99 {result.percentile_ms(99):6.2f} ms"
                        + (f"  ERRORS {result.errors}" if result.errors else ""),
                        flush=True,
                    )
                    continue
                _common.analyze(*FLOW_TABLES)
                fr = run_flows(
                    setup,
                    server,
                    clients=n,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    backends=backends,
                    statements=statements,
                )
                fr.statements = statements.per_flow(fr.flows) if statements.available else None
                flow_rounds.append(fr)
                every = array("d")
                for k in REQUESTS:
                    every.extend(fr.samples[k])
                print(
                    f"  round {r + 1} payments  {n} clients: {fr.flows_per_s:8.1f} flows/s"
                    f"  p50 {_common.percentile(every, 50) * 1000:6.2f} ms"
                    f"  p99 {_common.percentile(every, 99) * 1000:6.2f} ms per request"
                    + (f"  ERRORS {fr.errors}" if fr.errors else ""),
                    flush=True,
                )
    finally:
        server.stop()
        _common.delete_queue(queue)

    # --- figures --------------------------------------------------------------------------------
    flows_per_s = statistics.median(f.flows_per_s for f in flow_rounds) if flow_rounds else 0.0
    raw_tps = statistics.median(r.ops_per_s for r in raw_rounds) if raw_rounds else 0.0
    ratio = flows_per_s / raw_tps if raw_tps else 0.0
    pooled = {k: array("d") for k in (*REQUESTS, "pin")}
    for f in flow_rounds:
        for k in pooled:
            pooled[k].extend(f.samples[k])
    every = array("d")
    for k in REQUESTS:
        every.extend(pooled[k])

    def ms(samples, q):
        return round(_common.percentile(samples, q) * 1000, 2)

    def med(values):
        values = [v for v in values if not math.isnan(v)]
        return statistics.median(values) if values else math.nan

    p50, p99 = ms(every, 50), ms(every, 99)
    rows = []
    for k, label in (
        ("create", "POST /api/merchant/v1/payments/ (shop)"),
        ("initiate", "POST /api/v1/payments/<id>/initiate/"),
        ("confirm", "POST /api/v1/payments/<id>/confirm/ (PIN)"),
        ("all", "per request (the three above)"),
        ("pin", "PIN lookup in the DB (harness, not counted)"),
    ):
        s = every if k == "all" else pooled[k]
        rows.append(
            [label, len(s), ms(s, 50), ms(s, 95), ms(s, 99), round(max(s) * 1000, 1) if s else math.nan]
        )
    print()
    _common.print_table(
        ["request", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"],
        rows,
        title=f"Payments: create + initiate + confirm through HTTP, {n} clients, {server.kind}",
    )
    client_us = med([f.per_flow_us(f.client_cpu) for f in flow_rounds])
    server_us = med([f.per_flow_us(f.server_cpu) for f in flow_rounds])
    db_us = med([f.per_flow_us(f.db_cpu) for f in flow_rounds])
    raw_cpu_us = med([r.client_us_per_op + r.server_us_per_op for r in raw_rounds])
    other = med([f.other_load for f in flow_rounds])
    print()
    _common.print_table(
        ["figure", "value", "target", "met", "per round"],
        [
            [
                f"complete flows/s ({n} clients, median)",
                round(flows_per_s, 1),
                "-",
                "-",
                " ".join(f"{f.flows_per_s:.0f}" for f in flow_rounds),
            ],
            [
                f"raw-SQL transfers/s ({n} workers, median)",
                round(raw_tps, 1),
                "-",
                "-",
                " ".join(f"{r.ops_per_s:.0f}" for r in raw_rounds),
            ],
            [
                "ratio_to_raw_sql = flows/s / raw transfers/s",
                round(ratio, 4),
                f">= {RATIO_TARGET}",
                "yes" if ratio >= RATIO_TARGET else "NO",
                " ".join(
                    f"{f.flows_per_s / r.ops_per_s:.3f}"
                    for f, r in zip(flow_rounds, raw_rounds, strict=False)
                    if r.ops_per_s
                ),
            ],
            ["p99 per request, ms", p99, f"< {P99_TARGET_MS:g}", "yes" if p99 < P99_TARGET_MS else "NO", ""],
            ["CPU per flow: clients (requests + PIN lookup), us", _whole(client_us), "-", "-", ""],
            ["CPU per flow: server workers (Django), us", _whole(server_us), "-", "-", ""],
            ["CPU per flow: their PostgreSQL backends, us", _whole(db_us), "-", "-", ""],
            ["CPU per raw-SQL transfer (client + DB), us", _whole(raw_cpu_us), "-", "-", ""],
            [
                "server backends waiting for a row lock (mean of samples)",
                round(med([f.lock_waiters for f in flow_rounds]), 3),
                "-",
                "-",
                " ".join(f"{f.lock_waiters:.2f}" for f in flow_rounds),
            ],
            ["other load on the machine, % (median)", _whole(100 * other), "-", "-", ""],
            [
                "peak RSS of a server worker, MB (VmHWM, max)",
                round(server.memory.max_mb, 1),
                "-",
                "-",
                f"sum of {len(server.memory.peaks)}: {server.memory.sum_mb:.0f}",
            ],
        ],
    )
    if statements.available:
        _print_statements(flow_rounds)
    else:
        print(
            "\n(PostgreSQL's time per statement: preload pg_stat_statements in the server,"
            " shared_preload_libraries, and this table shows it.)"
        )
    if not math.isnan(other) and other > BUSY:
        print(
            f"WARNING: other processes used {100 * other:.0f}% of the machine's CPU while flows ran: the"
            " throughput figures are depressed; CPU per flow is the steadier figure."
        )

    failed = sum(f.errors for f in flow_rounds) + sum(r.errors for r in raw_rounds)
    for f in flow_rounds:
        if f.first_error:
            print(f"\nfirst error in a payments round:\n{f.first_error}", file=sys.stderr)
            break
    for r in raw_rounds:
        if r.first_error:
            print(f"\nfirst error in a raw-SQL round:\n{r.first_error}", file=sys.stderr)
            break

    violations, check_seconds = _common.report_ledger_check()
    print(
        f"check_ledger: {'ledger is consistent' if not violations else 'VIOLATIONS FOUND'}"
        f" ({check_seconds:.1f} s); whole benchmark {time.perf_counter() - t0:.0f} s"
    )

    result = {
        "bench": "payments",
        "clients": n,
        "server": server.kind,
        "flows_per_s": round(flows_per_s, 1),
        "requests_per_s": round(3 * flows_per_s, 1),
        "p50_ms": p50,
        "p99_ms": p99,
        "raw_sql_tps": round(raw_tps, 1),
        "ratio_to_raw_sql": round(ratio, 4),
        "ratio_target": RATIO_TARGET,
        "ratio_met": ratio >= RATIO_TARGET,
        "p99_target_ms": P99_TARGET_MS,
        "p99_met": p99 < P99_TARGET_MS,
        **{f"{k}_p50_ms": ms(pooled[k], 50) for k in REQUESTS},
        **{f"{k}_p99_ms": ms(pooled[k], 99) for k in REQUESTS},
        "pin_lookup_p50_ms": ms(pooled["pin"], 50),
        "pin_lookup_p99_ms": ms(pooled["pin"], 99),
        "client_cpu_us_per_flow": round(client_us, 1),
        "server_cpu_us_per_flow": round(server_us, 1),
        "db_cpu_us_per_flow": round(db_us, 1),
        "raw_sql_cpu_us": round(raw_cpu_us, 1),
        "lock_waiters": round(med([f.lock_waiters for f in flow_rounds]), 3),
        "other_load": round(other, 3) if not math.isnan(other) else None,
        **server.memory.figures("web"),
        "flows": sum(f.flows for f in flow_rounds),
        "errors": failed,
        "check_ledger_ok": not violations,
        "check_ledger_violations": sum(len(v) for v in violations.values()),
        "seconds": args.seconds,
        "rounds": args.rounds,
        "database": db.name,
        **({"profile": profiled} if profiled else {}),
        **_common.machine(),
    }
    _common.print_json({k: None if isinstance(v, float) and math.isnan(v) else v for k, v in result.items()})
    return 1 if failed or violations else 0


if __name__ == "__main__":
    sys.exit(main())
