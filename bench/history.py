"""A customer's balance and last 20 operations: as fast with 10,000,000 postings in the ledger as
with 10,000?

Two ledgers in two benchmark databases (`<name>_history_small_bench`, `<name>_history_large_bench`):
the same customer with the same 200 operations of its own, drowned in 10,000 or 10,000,000 other
postings. Each is measured in its own process (Django binds one database per process) through the
app API's views (/api/v1/balance/ and /api/v1/history/?page_size=20, in process with DRF's test
client, so that HTTP parsing does not blur the database's part). The large ledger is loaded once
with set-based SQL and kept between runs (rebuilt when a migration changes).

Target: the p50 with 10M postings no more than 2x the p50 with 10k (the index posting(account, -id)
and the cached balance make both reads independent of the ledger's size). Prints a table, then one
JSON line (p50_ms_small, p50_ms_large, ratio, ledger_clean). Exits 0 whatever the timings; 1 if the
ledger's integrity checks found a violation (after a load, and always in the small ledger).

    python bench/history.py [--postings 10000000] [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
OWN = 200  # the customer's own operations
ACCOUNTS = 1000  # other accounts sharing the rest of the postings


def _phase_url(phase: str) -> str:
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/payments"
    parts = urlsplit(base)
    name = (parts.path.lstrip("/") or "payments").removesuffix("_bench")
    return urlunsplit(parts._replace(path=f"/{name}_history_{phase}"))


def _load(postings: int) -> tuple[int, float, bool]:
    """Fills the ledger to `postings` postings (balanced entries of two legs) unless it already
    holds them. Returns (customer wallet id, seconds spent loading, loaded now?)."""
    from django.db import connection, transaction

    from wallet import customers, services
    from wallet.models import Account, Posting, User

    phone = "+381649990001"
    user = User.objects.filter(phone=phone).first()
    if user is None:
        user = User.objects.create_user(phone, None, first_name="History", last_name="Bench")
        user.phone_verified_at = user.date_joined
        user.save(update_fields=["phone_verified_at"])
    wallet = customers.open_customer_wallet(user=user, status=Account.Status.ACTIVE)
    existing = Posting.objects.count()
    if existing >= postings:
        return wallet.pk, 0.0, False

    clearing = services.system_account_id("terminal_cash_clearing")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        # Balanced by construction; the per-row triggers (zero-sum check, foreign keys) are
        # switched off for this one bulk load only, and check_ledger verifies the result after.
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute("SELECT count(*) FROM wallet_account WHERE code LIKE 'history-%%'")
        if cur.fetchone()[0] < ACCOUNTS:
            cur.execute(
                "INSERT INTO wallet_account (kind, code, name, currency, balance, allow_negative, hot,"
                " status, created_at, status_reason, spent_today, spent_this_month)"
                " SELECT 'system', 'history-' || g, 'History ' || g, 'RSD', 0, true, false, 'active',"
                " now(), '', 0, 0 FROM generate_series(1, %s) g",
                [ACCOUNTS],
            )
        cur.execute("SELECT min(id) FROM wallet_account WHERE code LIKE 'history-%%'")
        first_account = cur.fetchone()[0]
        entries = (postings - existing) // 2
        cur.execute("SELECT coalesce(max(id), 0) FROM wallet_entry")
        base = cur.fetchone()[0]
        # Every `step`-th entry is one of the customer's own (a top-up of 1.00), spread over the
        # whole id range so that its last 20 are far apart in a big table.
        step = max(entries // OWN, 1)
        cur.execute(
            "INSERT INTO wallet_entry (id, kind, reference, fingerprint, currency, memo, created_at)"
            " SELECT %s + g, CASE WHEN g %% %s = 0 THEN 'topup' ELSE 'transfer' END,"
            " 'history:' || (%s + g), '', 'RSD', '', now() - make_interval(secs => %s - g)"
            " FROM generate_series(1, %s) g",
            [base, step, base, entries, entries],
        )
        cur.execute(
            "INSERT INTO wallet_posting (entry_id, account_id, amount)"
            " SELECT %s + g, CASE WHEN g %% %s = 0 THEN %s ELSE %s + (g %% %s) END, 100"
            " FROM generate_series(1, %s) g"
            " UNION ALL"
            " SELECT %s + g, CASE WHEN g %% %s = 0 THEN %s ELSE %s + ((g + 1) %% %s) END, -100"
            " FROM generate_series(1, %s) g",
            [base, step, wallet.pk, first_account, ACCOUNTS, entries]
            + [base, step, clearing, first_account, ACCOUNTS, entries],
        )
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('wallet_entry', 'id'), (SELECT max(id) FROM wallet_entry))"
        )
        # Cached balances follow the postings, as post() would have kept them.
        cur.execute(
            "UPDATE wallet_account a SET balance = s.total FROM (SELECT account_id, sum(amount) AS total"
            " FROM wallet_posting GROUP BY account_id) s WHERE a.id = s.account_id AND NOT a.hot"
        )
        cur.execute(
            "UPDATE wallet_account a SET balance = s.total - coalesce((SELECT sum(d.amount)"
            " FROM wallet_balancedelta d WHERE d.account_id = a.id), 0)"
            " FROM (SELECT account_id, sum(amount) AS total FROM wallet_posting GROUP BY account_id) s"
            " WHERE a.id = s.account_id AND a.hot"
        )
    with connection.cursor() as cur:
        for table in ("wallet_entry", "wallet_posting", "wallet_account"):
            cur.execute(f"VACUUM (ANALYZE) {table}")
    return wallet.pk, time.perf_counter() - started, True


def phase(name: str, postings: int, requests: int) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _common

    _common.setup(url=_phase_url(name))
    from rest_framework.test import APIClient

    from wallet.models import Account, Posting

    wallet_id, load_seconds, loaded = _load(postings)
    wallet = Account.objects.select_related("owner").get(pk=wallet_id)
    client = APIClient()
    client.force_authenticate(wallet.owner)

    def read() -> float:
        started = time.perf_counter()
        balance = client.get("/api/v1/balance/")
        history = client.get("/api/v1/history/?page_size=20")
        elapsed = time.perf_counter() - started
        assert balance.status_code == 200 and history.status_code == 200, (balance.content, history.content)
        assert len(history.json()["results"]) == 20
        return elapsed

    for _ in range(20):  # warm the caches, the connection and the code paths
        read()
    samples = sorted(read() for _ in range(requests))
    problems = [p for ps in _common.check_ledger().values() for p in ps] if name == "small" or loaded else []
    return {
        "phase": name,
        "postings": Posting.objects.count(),
        "own_operations": Posting.objects.filter(account_id=wallet_id).count(),
        "p50_ms": _common.percentile(samples, 50) * 1000,
        "p99_ms": _common.percentile(samples, 99) * 1000,
        "load_seconds": round(load_seconds, 1),
        "ledger_problems": problems[:5],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postings", type=int, default=10_000_000, help="postings in the large ledger")
    parser.add_argument("--small", type=int, default=10_000, help="postings in the small ledger")
    parser.add_argument("--requests", type=int, default=300, help="balance + history reads per phase")
    parser.add_argument("--phase", choices=["small", "large"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:  # a child: measure one ledger, print one JSON line
        size = args.small if args.phase == "small" else args.postings
        print(json.dumps(phase(args.phase, size, args.requests)))
        return 0

    results = {}
    for name in ("small", "large"):
        child = subprocess.run(
            [sys.executable, __file__, "--phase", name, "--postings", str(args.postings),
             "--small", str(args.small), "--requests", str(args.requests)],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if child.returncode != 0:
            sys.stderr.write(child.stdout + child.stderr)
            raise SystemExit(f"bench/history.py: the {name} phase failed")
        results[name] = json.loads(child.stdout.strip().splitlines()[-1])

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _common

    small, large = results["small"], results["large"]
    ratio = large["p50_ms"] / small["p50_ms"] if small["p50_ms"] else float("nan")
    _common.print_table(
        ["ledger", "postings", "own ops", "p50 ms", "p99 ms", "load s", "check_ledger"],
        [
            [
                r["phase"],
                r["postings"],
                r["own_operations"],
                r["p50_ms"],
                r["p99_ms"],
                r["load_seconds"],
                "clean" if not r["ledger_problems"] else "; ".join(r["ledger_problems"]),
            ]
            for r in (small, large)
        ],  # fmt: skip
        title="Balance + last 20 operations (GET /api/v1/balance/ + /api/v1/history/?page_size=20)",
    )
    print(f"ratio large/small p50: {ratio:.2f} (target <= 2.0: {'met' if ratio <= 2.0 else 'MISSED'})")
    problems = small["ledger_problems"] + large["ledger_problems"]
    _common.print_json(
        {
            "bench": "history",
            "p50_ms_small": round(small["p50_ms"], 3),
            "p50_ms_large": round(large["p50_ms"], 3),
            "p99_ms_small": round(small["p99_ms"], 3),
            "p99_ms_large": round(large["p99_ms"], 3),
            "postings_small": small["postings"],
            "postings_large": large["postings"],
            "ratio": round(ratio, 3),
            "ledger_clean": not problems,
        }
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
