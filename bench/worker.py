"""A real Celery worker delivering a burst of SMS notifications and merchant webhooks: deliveries
per second and the worker's peak memory.

    .venv/bin/python bench/worker.py [--count 1000] [--pool prefork] [--concurrency 2] [--fresh]

Set-up (not timed), in the `<name>_bench` database of bench/_common.py: a local HTTP server standing
in for the merchants (a thread of this process that keeps every POST and answers 200); N SMS
notifications recorded through notifications.services.record (purpose "operation", SMS channel,
template generic_notice) and then N webhook events with their deliveries through
notifications.webhooks.enqueue (one merchant's secret, to the local server), in transactions of 200,
each published to Celery after commit as in production: to a private Redis queue of this run, with
no worker yet. That leaves a backlog of 2N tasks, the SMS ones first.

Timed: `celery -A config worker` (a process of its own: prefork with 2 pool processes by default, on
the benchmark database, SMS_BACKEND=outbox, this run's queue only) is started and drains the backlog:
every SMS written to the outbox and marked sent, every webhook signed, POSTed and marked succeeded
(each task a short locking transaction, as in production). Deliveries per second are counted from
the first delivery to the last by the rows' own times (sent_at, succeeded_at), so the worker's start
is not in them (it is reported apart); SMS and webhooks also per kind, each over its own span.
Retries are pushed past the countdown limit (NOTIFICATIONS_RETRY_DELAYS, WEBHOOK_RETRY_DELAYS = 3600
s), so a failed delivery stays in this run's database instead of going to the shared default queue.

Peak memory: when all is delivered and before the worker is stopped, the VmHWM of its processes (the
main process and its pool): worker_peak_rss_mb (the largest), worker_peak_rss_mb_sum (all). CPU per
delivery is the worker's processes' CPU between the first delivery seen and the last.

Checked: every SMS sent once (one outbox message each), every webhook delivered (succeeded, one
request each, each with a valid Standard Webhooks signature, no webhook-id twice). No timing target:
prints a table and, last, one JSON line (deliveries_per_s, worker_peak_rss_mb, ...). Exits 0 whatever
the timings; 1 if a delivery failed, was missing or duplicated, or a signature did not verify.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import _common

BATCH = 200  # rows recorded per transaction (their tasks are published at its commit)
RETRY_LATER = "3600"  # seconds: above the countdown limit, so no retry is published anywhere


# --- the merchants' server -----------------------------------------------------------------------


class Merchants:
    """An HTTP server on a free 127.0.0.1 port, in a thread: keeps every POST (headers and body)
    and answers 200. Signatures are checked at the end, not while the worker runs."""

    def __init__(self):
        received = self.received = []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    received.append((dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "11")
                self.end_headers()
                self.wfile.write(b'{"ok":true}')

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- set-up --------------------------------------------------------------------------------------


def record(count: int, run: str, url: str, secret: str) -> tuple[list[int], list[int], float]:
    """N SMS notifications, then N webhook deliveries, published after each batch commits.
    Returns their ids and the seconds it took."""
    from django.db import transaction
    from django.utils import timezone

    from notifications import services, webhooks
    from notifications.models import WebhookDelivery

    started = time.perf_counter()
    sms: list[int] = []
    for first in range(0, count, BATCH):
        with transaction.atomic():
            for i in range(first, min(first + BATCH, count)):
                rows = services.record(
                    template="generic_notice",
                    context={"message": f"bench {run} notice {i}"},
                    phone=f"+38165{i % 10_000_000:07d}",
                    channels=["sms"],
                )
                sms.extend(row.pk for row in rows)
    # Notices wait on the ready list for the beat's dispatch_ready (no beat here): dispatched now,
    # in batches, as the beat would.
    while services.dispatch_ready():
        pass
    events: list[int] = []
    for first in range(0, count, BATCH):
        with transaction.atomic():
            for i in range(first, min(first + BATCH, count)):
                event = webhooks.enqueue(
                    owner=f"bench-worker-{run}",
                    url=url,
                    secret=secret,
                    event_type="payment.succeeded",
                    data={"id": f"pay_{run}_{i}", "amount": 1000 + i},
                    resource_updated_at=timezone.now(),
                )
                events.append(event.pk)
    deliveries = list(WebhookDelivery.objects.filter(event_id__in=events).values_list("pk", flat=True))
    return sms, deliveries, time.perf_counter() - started


# --- the worker ----------------------------------------------------------------------------------


class Worker:
    """`celery -A config worker` on the benchmark database, consuming this run's queue only."""

    def __init__(self, *, queue: str, pool: str, concurrency: int, name: str):
        self.queue, self.pool, self.concurrency = queue, pool, concurrency
        self.dir = tempfile.TemporaryDirectory(prefix="bench-worker-")
        self.log = Path(self.dir.name) / "worker.log"
        self.command = [sys.executable, "-m", "celery", "-A", "config", "worker", f"--pool={pool}"]
        if pool == "prefork":
            self.command.append(f"--concurrency={concurrency}")
        self.command += [
            "-Q",
            queue,
            "-n",
            f"{name}@%h",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "-l",
            "warning",
        ]
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0  # time.time() when started
        self.memory = _common.Memory()

    @property
    def kind(self) -> str:
        return f"celery worker, {self.pool}" + (f" x {self.concurrency}" if self.pool == "prefork" else "")

    def start(self) -> None:
        broker = _common.redis_url()
        env = {
            **os.environ,  # DATABASE_URL: the benchmark database (_common.setup)
            "DEBUG": "false",
            "CONN_MAX_AGE": str(_common.CONN_MAX_AGE),
            "SMS_BACKEND": "outbox",
            "CELERY_BROKER_URL": broker,
            "REDIS_URL": os.environ.get("REDIS_URL") or broker,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "WEBHOOK_REQUIRE_HTTPS": "false",
            "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
            "NOTIFICATIONS_RETRY_DELAYS": RETRY_LATER,
            "WEBHOOK_RETRY_DELAYS": RETRY_LATER,
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        self.started_at = time.time()
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                self.command, cwd=_common.ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

    def pids(self) -> list[int]:
        if self.proc is None or self.proc.poll() is not None:
            return []
        return [self.proc.pid, *_common.children_of(self.proc.pid)]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        return _common.log_tail(self.log, lines)

    def stop(self) -> None:
        if self.alive():
            self.memory = _common.memory_of(self.pids())  # the peaks, before the processes exit
            _common.terminate(self.proc)  # a warm shutdown: no task is running by now

    def cleanup(self) -> None:
        self.dir.cleanup()


# --- measuring -----------------------------------------------------------------------------------


def progress(sms: list[int], deliveries: list[int]) -> dict:
    """Where the deliveries stand, from their rows."""
    from django.db.models import Count, Max, Min, Q

    from notifications.models import Notification, WebhookDelivery

    n = Notification.objects.filter(pk__in=sms).aggregate(
        done=Count("pk", filter=Q(status="sent")),
        # a failed try leaves the row pending with its attempt counted (the retry is an hour away)
        failed=Count("pk", filter=Q(status="failed") | Q(status="pending", attempts__gte=1)),
        first=Min("sent_at"),
        last=Max("sent_at"),
    )
    w = WebhookDelivery.objects.filter(pk__in=deliveries).aggregate(
        done=Count("pk", filter=Q(status="succeeded")),
        failed=Count("pk", filter=Q(status="failed") | Q(status="pending", attempts__gte=1, claim="")),
        first=Min("succeeded_at"),
        last=Max("succeeded_at"),
    )
    return {"sms": n, "webhooks": w}


def span(first, last) -> float:
    return (last - first).total_seconds() if first and last else math.nan


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds and seconds > 0 and not math.isnan(seconds) else math.nan


def check(sms: list[int], deliveries: list[int], received: list, secret: str) -> list[str]:
    """What went wrong: rows not delivered, outbox messages missing or doubled, requests missing,
    doubled or badly signed."""
    from standardwebhooks import Webhook, WebhookVerificationError

    from notifications.models import DeliveryAttempt, Notification, SmsMessage, WebhookDelivery

    problems = []
    sent = Notification.objects.filter(pk__in=sms, status="sent").count()
    if sent != len(sms):
        problems.append(f"{len(sms) - sent} of {len(sms)} SMS not sent")
    attempts = DeliveryAttempt.objects.filter(notification_id__in=sms).count()
    if attempts != len(sms):
        problems.append(f"{attempts} delivery attempts for {len(sms)} SMS")
    bodies = list(Notification.objects.filter(pk__in=sms).values_list("to_phone", "body"))
    outbox = SmsMessage.objects.filter(to__in={phone for phone, _ in bodies}, body__in={b for _, b in bodies})
    if outbox.count() != len(sms):
        problems.append(f"{outbox.count()} outbox messages for {len(sms)} SMS")
    succeeded = WebhookDelivery.objects.filter(pk__in=deliveries, status="succeeded").count()
    if succeeded != len(deliveries):
        problems.append(f"{len(deliveries) - succeeded} of {len(deliveries)} webhooks not delivered")
    ids = [headers.get("webhook-id") for headers, _ in received]
    if len(received) != len(deliveries):
        problems.append(f"{len(received)} webhook requests for {len(deliveries)} deliveries")
    if len(set(ids)) != len(ids):
        problems.append(f"{len(ids) - len(set(ids))} webhook-ids received twice")
    verifier = Webhook(secret)
    bad = 0
    for headers, body in received:
        try:
            verifier.verify(body, {k.lower(): v for k, v in headers.items()})
        except WebhookVerificationError:
            bad += 1
    if bad:
        problems.append(f"{bad} webhook signatures did not verify")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="SMS, and webhooks, each (default 1000)")
    parser.add_argument("--pool", choices=["prefork", "solo"], default="prefork", help="Celery pool")
    parser.add_argument(
        "--concurrency", type=int, default=2, help="prefork pool processes (default 2: the machine's cores)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds the worker may take to deliver all"
    )
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the benchmark database")
    args = parser.parse_args()
    os.environ.update(
        {
            "SMS_BACKEND": "outbox",
            "CELERY_BROKER_URL": _common.redis_url(),
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
    )

    t0 = time.perf_counter()
    db = _common.setup(fresh=args.fresh)
    from config.celery import app as celery_app
    from notifications import webhooks

    run = _common.run_id()
    queue = f"bench-worker-{run}"
    celery_app.conf.task_default_queue = queue  # what this process records goes to this queue only
    merchants = Merchants()
    merchants.start()
    secret = webhooks.generate_secret()
    worker = Worker(queue=queue, pool=args.pool, concurrency=args.concurrency, name=queue)
    print(
        f"worker bench: database {db.name} ({db.state}), run {run}, {args.count} SMS + {args.count}"
        f" webhooks, {worker.kind}, {_common.machine()}",
        flush=True,
    )
    total = 2 * args.count
    state: dict = {}
    cpu = {"first": None, "last": None, "done_first": 0, "done_last": 0}
    failure = ""
    try:
        sms, deliveries, record_seconds = record(args.count, run, merchants.url, secret)
        print(
            f"  recorded and published {total} tasks in {record_seconds:.1f} s; starting the worker",
            flush=True,
        )
        _common.analyze("notifications_notification", "notifications_webhookdelivery")
        from django.db import connection

        connection.close()
        worker.start()
        deadline = time.monotonic() + args.timeout
        while True:
            state = progress(sms, deliveries)
            done = state["sms"]["done"] + state["webhooks"]["done"]
            used = _common.cpu_seconds(worker.pids())
            if done and cpu["first"] is None and used is not None:
                cpu.update(first=used, done_first=done)
            if used is not None:
                cpu.update(last=used, done_last=done)
            if done >= total:
                break
            failed = state["sms"]["failed"] + state["webhooks"]["failed"]
            if failed and done + failed >= total:
                failure = f"{failed} of {total} deliveries failed (see their attempts in {db.name})"
                break
            if not worker.alive():
                failure = f"the worker exited with {worker.proc.returncode}:\n{worker.log_tail()}"
                break
            if time.monotonic() > deadline:
                failure = f"{total - done} of {total} not delivered after {args.timeout:g} s"
                break
            time.sleep(0.2)
        drained_at = time.time()
    finally:
        worker.stop()
        merchants.stop()
        _common.delete_queue(queue)

    if failure:
        print(f"\nFAILED: {failure}", file=sys.stderr)
    n, w = state.get("sms", {}), state.get("webhooks", {})
    firsts = [t for t in (n.get("first"), w.get("first")) if t]
    lasts = [t for t in (n.get("last"), w.get("last")) if t]
    delivered = n.get("done", 0) + w.get("done", 0)
    whole = span(min(firsts), max(lasts)) if firsts and lasts else math.nan
    per_s = rate(delivered, whole)
    sms_per_s = rate(n.get("done", 0), span(n.get("first"), n.get("last")))
    webhooks_per_s = rate(w.get("done", 0), span(w.get("first"), w.get("last")))
    startup = min(firsts).timestamp() - worker.started_at if firsts else math.nan
    drain = drained_at - worker.started_at if worker.started_at and not failure else math.nan
    counted = cpu["done_last"] - cpu["done_first"]
    cpu_ms = (
        (cpu["last"] - cpu["first"]) / counted * 1000
        if cpu["first"] is not None and cpu["last"] is not None and counted > 0
        else math.nan
    )
    problems = [failure.splitlines()[0]] if failure else []
    problems += check(sms, deliveries, merchants.received, secret)
    memory = worker.memory

    print()
    _common.print_table(
        ["figure", "value"],
        [
            ["deliveries/s (SMS + webhooks, first to last)", round(per_s, 1)],
            ["  SMS to the outbox/s", round(sms_per_s, 1)],
            ["  webhooks POSTed/s", round(webhooks_per_s, 1)],
            ["delivered", f"{delivered:,} of {total:,}"],
            ["worker start to first delivery, s", round(startup, 2)],
            ["worker start to all delivered, s", round(drain, 2)],
            ["worker CPU per delivery, ms", round(cpu_ms, 2)],
            ["peak RSS of a worker process, MB (VmHWM, max)", round(memory.max_mb, 1)],
            [
                "peak RSS of the worker's processes, MB (sum)",
                f"{memory.sum_mb:.1f} ({len(memory.peaks)} processes)",
            ],
        ],
        title=f"Celery worker draining {args.count:,} SMS + {args.count:,} webhooks ({worker.kind})",
    )
    verdict = "all delivered once, signatures valid" if not problems else "FAILED: " + "; ".join(problems)
    print(f"\nchecks: {verdict}; whole benchmark {time.perf_counter() - t0:.0f} s")
    worker.cleanup()

    def num(value, digits=1):
        return None if math.isnan(value) else round(value, digits)

    _common.print_json(
        {
            "bench": "worker",
            "worker": worker.kind,
            "count": args.count,
            "deliveries": delivered,
            "deliveries_per_s": num(per_s),
            "sms_per_s": num(sms_per_s),
            "webhooks_per_s": num(webhooks_per_s),
            "startup_seconds": num(startup, 2),
            "drain_seconds": num(drain, 2),
            "worker_cpu_ms_per_delivery": num(cpu_ms, 3),
            **memory.figures("worker"),
            "record_seconds": round(record_seconds, 1),
            "delivered_ok": not problems,
            "problems": problems[:5],
            "database": db.name,
            **_common.machine(),
        }
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
