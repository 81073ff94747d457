"""Ledger throughput: wallet-to-wallet transfers through `wallet.ledger.post(...)` (each its own
durable transaction, via `wallet.services.transfer`) against the same transfer in hand-written
SQL, and many payers paying one hot merchant against disjoint pairs.

    .venv/bin/python bench/ledger.py [--seconds 3] [--rounds 5] [--workers 8] [--fresh]

Workloads (all on PostgreSQL, in the `<name>_bench` database, processes not threads):

- service:  services.transfer(payer_i -> payee_i): each worker its own pair of customer wallets
            (no lock waits between workers; what is measured is the cost of a transfer); the
            1-worker runs use pair 0. post() also runs its limit checks (NULL limits here) in
            the same conditional UPDATE, which the raw baseline does not have.
- raw_sql:  the same pairs and the same tables, by psycopg2: BEGIN; SELECT .. FOR UPDATE of both
            rows in id order (and a balance check in Python); two UPDATEs of balance; INSERT the
            entry (unique reference and fingerprint); INSERT two postings; COMMIT. The deferred
            zero-sum trigger and the deferred foreign keys run for both.
- hot:      services.transfer(payer_i -> ONE merchant account, opened hot): 8 payers, one payee.
            Its credits are balance deltas (no row lock on the merchant). Compared with the
            service run at the same worker count (8 disjoint pairs: the same payers), which runs
            right before or after it in each round.

The rounds are interleaved (service 1, raw 1, service 8, hot 8, raw 8; then backwards, and so on)
and each throughput is the median over rounds, so that a burst of load from elsewhere (this is a
shared 2-core machine) does not skew one side only; latency percentiles pool all rounds. The
default run (5 rounds x 3 s x 5 measurements) takes about 1.5 minutes.
Besides throughput and latency it reports CPU per transfer: client (the worker processes) and DB
(their PostgreSQL backends, from /proc), and how much CPU other processes took meanwhile. On 2
cores the 8-worker runs are CPU-bound, so raw CPU/op / service CPU/op estimates the ratio without
the noise of a shared machine; when others took more than 20% of the CPU a warning says so.
Targets: ratio = service_tps / raw_sql_tps (8 workers) >= 0.5; hot_merchant_ratio >= 0.8.
Prints a table, then one JSON line. Exits 0 whatever the timings; 1 if a transfer failed or the
ledger's integrity checks found a violation.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import sys
import time

import _common

AMOUNT = 125  # minor units per transfer
FUNDING = 10**12  # per payer: far more than any run moves
RATIO_TARGET = 0.5
HOT_TARGET = 0.8
BUSY = 0.2  # other processes using more than this share of the CPU make the figures unreliable


def make_service_op(pairs, currency, tag):
    from wallet import services

    def make(index):
        payer, payee = pairs[index]
        counter = itertools.count()
        prefix = f"{tag}-w{index}-p{os.getpid()}-"

        def op():
            posted = services.transfer(
                reference=f"{prefix}{next(counter)}",
                debit_account=payer,
                credit_account=payee,
                amount=AMOUNT,
                currency=currency,
            )
            if not posted.created:
                raise AssertionError("a benchmark reference was replayed: not a real transfer")

        return op

    return make


def raw_transfer(cur, payer: int, payee: int, reference: str, currency: str) -> int:
    """The hand-written transfer on a DB-API cursor, in the caller's transaction: both accounts
    locked in id order, the payer's balance checked, both updated, the entry and its two postings
    written. Returns the entry's id."""
    low, high = sorted((payer, payee))
    cur.execute(
        "SELECT id, balance FROM wallet_account WHERE id IN (%s, %s) ORDER BY id FOR UPDATE", (low, high)
    )
    balances = dict(cur.fetchall())
    if balances[payer] < AMOUNT:
        raise RuntimeError(f"raw: account {payer} has too little money")
    for account, delta in sorted(((payer, -AMOUNT), (payee, AMOUNT))):
        cur.execute("UPDATE wallet_account SET balance = balance + %s WHERE id = %s", (delta, account))
    cur.execute(
        "INSERT INTO wallet_entry (kind, reference, fingerprint, currency, memo, created_at)"
        " VALUES ('transfer', %s, %s, %s, '', now()) RETURNING id",
        (reference, hashlib.sha256(reference.encode()).hexdigest(), currency),
    )
    (entry_id,) = cur.fetchone()
    cur.execute(
        "INSERT INTO wallet_posting (entry_id, account_id, amount) VALUES (%s, %s, %s), (%s, %s, %s)",
        (entry_id, payer, -AMOUNT, entry_id, payee, AMOUNT),
    )
    return entry_id


def make_raw_op(pairs, currency, tag):
    def make(index):
        payer, payee = pairs[index]
        conn = _common.raw_connection()
        cur = conn.cursor()
        counter = itertools.count()
        prefix = f"{tag}-w{index}-p{os.getpid()}-"

        def op():
            try:  # psycopg2 sends BEGIN first: autocommit is off
                raw_transfer(cur, payer, payee, f"{prefix}{next(counter)}", currency)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

        op.close = conn.close
        op.db_pids = [conn.get_backend_pid()]  # for the CPU accounting of _common.run_workers
        return op

    return make


def prepare(workers: int, run: str):
    """Customer wallets for `workers` payers and payees, one hot merchant, payers funded."""
    from django.conf import settings

    from wallet import services
    from wallet.models import Account

    currency = settings.PLATFORM_CURRENCY
    users = _common.new_customers(2 * workers, tag=f"bench-{run}")
    wallets = [services.open_wallet(user=u, currency=currency).pk for u in users]
    # Active and without tier limits whatever open_wallet's defaults: this measures throughput,
    # not limits (post() still runs its limit-checking UPDATE; NULL limits pass it).
    no_limits = {
        f: None
        for f in ("max_balance", "max_single", "daily_limit", "monthly_limit")
        if any(x.name == f for x in Account._meta.get_fields())
    }
    Account.objects.filter(pk__in=wallets).update(status=Account.Status.ACTIVE, **no_limits)
    pairs = list(zip(wallets[:workers], wallets[workers:], strict=True))
    merchant = services.open_business_account(
        kind=Account.Kind.MERCHANT, name=f"Bench merchant {run}", currency=currency
    )
    source = services.system_account_id("terminal_cash_clearing", currency)
    for i, (payer, _) in enumerate(pairs):
        services.transfer(
            reference=f"bench-{run}-fund-{i}",
            debit_account=source,
            credit_account=payer,
            amount=FUNDING,
            currency=currency,
            kind="top_up",
        )
    _common.analyze("wallet_account", "wallet_entry", "wallet_posting", "wallet_balancedelta")
    return currency, pairs, merchant.pk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _common.add_arguments(parser, seconds=3.0, rounds=5)
    parser.add_argument("--workers", type=int, default=8, help="concurrent processes (default 8)")
    args = parser.parse_args()
    n = args.workers

    t0 = time.perf_counter()
    db = _common.setup(fresh=args.fresh)
    run = _common.run_id()
    currency, pairs, merchant = prepare(n, run)
    hot_pairs = [(payer, merchant) for payer, _ in pairs]
    print(
        f"ledger bench: database {db.name} ({db.state}, migrate "
        f"{db.migrate_seconds:.1f} s), run {run}, {args.rounds} round(s) x {args.seconds:g} s, "
        f"{n} workers, {_common.machine()}",
        flush=True,
    )

    plan = [  # (key, label, workers, op factory, (payer, payee) per worker)
        ("service_1", "post() via services.transfer", 1, make_service_op, pairs),
        ("raw_1", "raw SQL (psycopg2)", 1, make_raw_op, pairs),
        ("service_n", "post() via services.transfer", n, make_service_op, pairs),
        ("hot_n", "post(), all pay ONE hot merchant", n, make_service_op, hot_pairs),
        ("raw_n", "raw SQL (psycopg2)", n, make_raw_op, pairs),
    ]
    rounds: dict[str, list[_common.RunResult]] = {key: [] for key, *_ in plan}
    for r in range(args.rounds):  # odd rounds run the plan backwards: no workload always goes first
        for key, label, workers, factory, workload in plan if r % 2 == 0 else plan[::-1]:
            tag = f"bench-{run}-{key}-r{r}"
            result = _common.run_workers(
                factory(workload, currency, tag), workers=workers, seconds=args.seconds, label=label
            )
            rounds[key].append(result)
            print(
                f"  round {r + 1} {key:<9} {workers} worker(s): {result.ops_per_s:8.1f} transfers/s"
                f"  p50 {result.percentile_ms(50):6.2f} ms  p99 {result.percentile_ms(99):6.2f} ms"
                + (f"  ERRORS {result.errors}" if result.errors else ""),
                flush=True,
            )
    s = {key: _common.Summary(label, w, rounds[key]) for key, label, w, *_ in plan}

    ratio = s["service_n"].ops_per_s / s["raw_n"].ops_per_s if s["raw_n"].ops_per_s else 0.0
    ratio_1 = s["service_1"].ops_per_s / s["raw_1"].ops_per_s if s["raw_1"].ops_per_s else 0.0
    disjoint = s["service_n"].ops_per_s
    hot_ratio = s["hot_n"].ops_per_s / disjoint if disjoint else 0.0

    rows = []
    for key, *_ in plan:
        x = s[key]
        per_round = " ".join(f"{r.ops_per_s:.0f}" for r in x.rounds)
        rows.append(
            [
                x.label,
                x.workers,
                round(x.ops_per_s, 1),
                round(x.percentile_ms(50), 2),
                round(x.percentile_ms(95), 2),
                round(x.percentile_ms(99), 2),
                round(x.client_us_per_op, 0),
                round(x.server_us_per_op, 0),
                round(100 * x.other_load, 0),
                x.ops,
                x.errors,
                per_round,
            ]
        )
    print()
    _common.print_table(
        [
            "measurement",
            "workers",
            "transfers/s (median)",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "client CPU us/op",
            "DB CPU us/op",
            "other load % (median)",
            "transfers",
            "errors",
            "per round (transfers/s)",
        ],
        rows,
        title=f"Ledger: wallet-to-wallet transfers, {args.rounds} x {args.seconds:g} s per measurement",
    )
    cpu_ratio = s["raw_n"].cpu_us_per_op / s["service_n"].cpu_us_per_op
    other_load = max(x.other_load for x in s.values())
    ratio_ok = ratio >= RATIO_TARGET
    hot_ok = hot_ratio >= HOT_TARGET

    def paired(a, b):  # per-round ratios of two measurements run next to each other
        return " ".join(f"{x.ops_per_s / y.ops_per_s:.2f}" for x, y in zip(a.rounds, b.rounds, strict=True))

    print()
    _common.print_table(
        ["figure (ratio of medians)", "value", "target", "met", "per round"],
        [
            [
                f"ratio = service / raw SQL, {n} workers",
                round(ratio, 3),
                f">= {RATIO_TARGET}",
                "yes" if ratio_ok else "NO",
                paired(s["service_n"], s["raw_n"]),
            ],
            [
                "CPU-bound estimate: raw CPU/op / service CPU/op",
                round(cpu_ratio, 3),
                "-",
                "-",
                "",
            ],
            [
                "ratio at 1 worker (for reference)",
                round(ratio_1, 3),
                "-",
                "-",
                paired(s["service_1"], s["raw_1"]),
            ],
            [
                f"hot_merchant_ratio = one merchant / {n} disjoint pairs",
                round(hot_ratio, 3),
                f">= {HOT_TARGET}",
                "yes" if hot_ok else "NO",
                paired(s["hot_n"], s["service_n"]),
            ],
        ],
    )

    print(
        "\nclient CPU = the worker processes (Python), DB CPU = their PostgreSQL backends, per"
        " transfer, median of rounds;\nother load = share of the machine's CPU used meanwhile by"
        " other processes (other people's work, PostgreSQL's background writers), median of rounds."
    )
    if other_load > BUSY:
        print(
            f"WARNING: other processes used {100 * other_load:.0f}% of the machine's CPU during some"
            " measurements:\nthe throughput figures are depressed and noisy (Python-heavy paths"
            " suffer most); CPU per transfer is the steadier figure. Re-run on a quiet machine."
        )

    failed = sum(x.errors for x in s.values())
    for x in s.values():
        if x.first_error:
            print(f"\nfirst error in '{x.label}' ({x.workers} workers):\n{x.first_error}", file=sys.stderr)

    violations, check_seconds = _common.report_ledger_check()
    print(
        f"check_ledger: {'ledger is consistent' if not violations else 'VIOLATIONS FOUND'}"
        f" ({check_seconds:.1f} s); whole benchmark {time.perf_counter() - t0:.0f} s"
    )

    def latency(key):
        return {
            f"{key}_p50_ms": round(s[key].percentile_ms(50), 3),
            f"{key}_p99_ms": round(s[key].percentile_ms(99), 3),
        }

    result = {
        "bench": "ledger",
        "workers": n,
        "service_tps": round(s["service_n"].ops_per_s, 1),
        "raw_sql_tps": round(s["raw_n"].ops_per_s, 1),
        "ratio": round(ratio, 3),
        "ratio_target": RATIO_TARGET,
        "ratio_met": ratio_ok,
        "one_merchant_tps": round(s["hot_n"].ops_per_s, 1),
        "disjoint_tps": round(disjoint, 1),
        "hot_merchant_ratio": round(hot_ratio, 3),
        "hot_merchant_ratio_target": HOT_TARGET,
        "hot_merchant_ratio_met": hot_ok,
        "service_tps_1": round(s["service_1"].ops_per_s, 1),
        "raw_sql_tps_1": round(s["raw_1"].ops_per_s, 1),
        "ratio_1": round(ratio_1, 3),
        **{
            k.replace("_n_", "_").replace("raw_", "raw_sql_"): v
            for key in ("service_n", "raw_n", "hot_n", "service_1", "raw_1")
            for k, v in latency(key).items()
        },
        "service_cpu_us": round(s["service_n"].cpu_us_per_op, 1),
        "raw_sql_cpu_us": round(s["raw_n"].cpu_us_per_op, 1),
        "hot_cpu_us": round(s["hot_n"].cpu_us_per_op, 1),
        "cpu_ratio": round(cpu_ratio, 3),
        "other_load": round(other_load, 3),
        "errors": failed,
        "check_ledger_ok": not violations,
        "check_ledger_violations": sum(len(v) for v in violations.values()),
        "seconds": args.seconds,
        "rounds": args.rounds,
        "database": db.name,
        **_common.machine(),
    }
    _common.print_json(result)
    return 1 if failed or violations else 0


if __name__ == "__main__":
    sys.exit(main())
