"""Card end of day over 1,000,000 card transactions across 1,000 merchants.

    .venv/bin/python bench/end_of_day.py [--transactions 1000000] [--merchants 1000] [--fresh]

Set-up (not timed), all set-based SQL (INSERT ... SELECT generate_series): 1,000 merchants with
their accounts, N card transactions (half DB, half captured PA, a tenth of those partly
captured), their capture movements with commission parts (fixed 20.00 + 1.5 %), and refunds of
one transaction in twenty with their refund movements; one ledger entry moves the total captured
less refunded from card_clearing to card_merchant_payable, as the captures one by one would have.

Timed, in the same run over the same rows:
- sql_baseline: one hand-written INSERT ... SELECT ... GROUP BY of the movements per merchant
  into a temporary table (rolled back): the least any end of day can do;
- eod: acquiring.services.end_of_day(...): the locked window, the settlement lines by the same
  kind of statement, the two ledger entries, in one transaction.
The baseline runs before and after end of day and the faster of the two is kept (so the ratio
is, if anything, pessimistic). Peak memory is this process's ru_maxrss.
Targets: ratio = eod / baseline <= 3, peak RSS < 500 MB. Prints a table, then one JSON line.
Exits 0 whatever the timings; 1 if the ledger's integrity checks fail after end of day.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import uuid
from datetime import date, timedelta

import _common

RATIO_TARGET = 3.0
RSS_TARGET_MB = 500


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def merchants(count: int) -> list[int]:
    from django.conf import settings

    from merchants.models import Merchant
    from wallet.models import Account

    existing = list(
        Merchant.objects.filter(legal_name__startswith="EOD bench ")
        .order_by("id")
        .values_list("id", flat=True)
    )
    if len(existing) >= count:
        return existing[:count]
    start = len(existing)
    accounts = Account.objects.bulk_create(
        Account(
            kind=Account.Kind.MERCHANT, name=f"EOD bench {i}", currency=settings.PLATFORM_CURRENCY, hot=True
        )
        for i in range(start, count)
    )
    tag = uuid.uuid4().int % 10**6
    made = Merchant.objects.bulk_create(
        Merchant(
            legal_name=f"EOD bench {i}",
            registration_number="07004044",
            tax_id=f"{tag:06d}{i:03d}"[-9:] if count <= 1000 else f"{(tag * 10000 + i) % 10**9:09d}",
            address="Bench 1",
            contact_email="bench@example.com",
            category="retail",
            status="active",
            account=account,
        )
        for i, account in zip(range(start, count), accounts, strict=True)
    )
    return existing + [m.pk for m in made]


def generate(cursor, merchant_ids: list[int], n: int, entry_id: int, run: str) -> dict:
    cursor.execute("CREATE TEMP TABLE bench_merchants (i int PRIMARY KEY, merchant_id bigint) ON COMMIT DROP")
    cursor.execute(
        "INSERT INTO bench_merchants SELECT ordinality - 1, id"
        " FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(id)",
        [merchant_ids],
    )
    m = len(merchant_ids)
    t0 = time.perf_counter()
    cursor.execute(
        f"""
        INSERT INTO acquiring_cardtransaction
            (public_id, kind, purpose, merchant_id, order_id, amount, currency, description, customer_email,
             return_url, status, captured_amount, refunded_amount, card_token, card_brand, card_last4,
             card_exp_month, card_exp_year, processor, bank_transaction_id, approval_code, rrn, response_code,
             threeds_reference, review, review_reason, request_fingerprint, capture_entry_id, created_at,
             submitted_at, authorized_at, captured_at, updated_at)
        SELECT 'ct_{run}_' || g, CASE WHEN mod(g, 2) = 0 THEN 'DB' ELSE 'PA' END, 'merchant', bm.merchant_id,
               '{run}-' || g, 1000 + mod(g * 7919, 5000000), 'RSD', '', '', '', 'captured',
               CASE WHEN mod(g, 20) = 1 THEN (1000 + mod(g * 7919, 5000000)) / 2
                    ELSE 1000 + mod(g * 7919, 5000000) END,
               CASE WHEN mod(g, 20) = 3 THEN 500 ELSE 0 END,
               'tok_' || md5(g::text), 'visa', lpad(mod(g, 10000)::text, 4, '0'), 12, 2030, 'simulator',
               'SIM' || g, lpad(mod(g, 1000000)::text, 6, '0'), lpad(g::text, 12, '0'), '00', '', '', '', '',
               %s, now(), now(), now(), now(), now()
        FROM generate_series(1::bigint, %s) AS g JOIN bench_merchants bm ON bm.i = mod(g, {m})
        """,
        [entry_id, n],
    )
    cursor.execute(
        f"""
        INSERT INTO acquiring_movement
            (kind, transaction_id, merchant_id, amount, currency, fee_fixed, fee_percent, tariff_version_id,
             entry_id, created_at)
        SELECT 'capture', t.id, t.merchant_id, t.captured_amount, 'RSD', 2000,
               (t.captured_amount * 150 + 5000) / 10000, NULL, %s, now()
        FROM acquiring_cardtransaction t WHERE t.public_id LIKE 'ct\\_{run}\\_%%'
        """,
        [entry_id],
    )
    cursor.execute(
        f"""
        INSERT INTO acquiring_cardrefund
            (public_id, transaction_id, amount, reason, idempotency_key, bank_transaction_id, rrn,
             response_code, entry_id, created_at)
        SELECT 'crf_' || t.public_id, t.id, t.refunded_amount, '', 'bench', '', '', '00', %s, now()
        FROM acquiring_cardtransaction t WHERE t.public_id LIKE 'ct\\_{run}\\_%%' AND t.refunded_amount > 0
        """,
        [entry_id],
    )
    cursor.execute(
        f"""
        INSERT INTO acquiring_movement
            (kind, transaction_id, refund_id, merchant_id, amount, currency, fee_fixed, fee_percent, entry_id,
             created_at)
        SELECT 'refund', r.transaction_id, r.id, t.merchant_id, r.amount, 'RSD', 0, 0, %s, now()
        FROM acquiring_cardrefund r JOIN acquiring_cardtransaction t ON t.id = r.transaction_id
        WHERE r.public_id LIKE 'crf\\_ct\\_{run}\\_%%'
        """,
        [entry_id],
    )
    cursor.execute(
        "SELECT COALESCE(SUM(CASE WHEN kind = 'refund' THEN -amount ELSE amount END), 0), COUNT(*)"
        " FROM acquiring_movement WHERE entry_id = %s",
        [entry_id],
    )
    total, movements = cursor.fetchone()
    return {"seconds": time.perf_counter() - t0, "total": int(total), "movements": movements}


BASELINE = """
CREATE TEMP TABLE bench_baseline AS
SELECT merchant_id, currency,
       COUNT(*) FILTER (WHERE kind = 'capture') AS captures,
       COALESCE(SUM(amount) FILTER (WHERE kind = 'capture'), 0) AS gross,
       COUNT(*) FILTER (WHERE kind = 'refund') AS refund_count,
       COALESCE(SUM(amount) FILTER (WHERE kind = 'refund'), 0) AS refunds,
       SUM(fee_fixed) AS fixed, SUM(fee_percent) AS percent
FROM acquiring_movement WHERE id > %s AND merchant_id IS NOT NULL GROUP BY merchant_id, currency
"""


def baseline(after_id: int) -> tuple[float, int]:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            BASELINE.replace("CREATE TEMP TABLE bench_baseline AS", "INSERT INTO bench_baseline"), [after_id]
        )
        seconds = time.perf_counter() - started
        rows = cursor.rowcount
        transaction.set_rollback(True)
    return seconds, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--merchants", type=int, default=1000)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    db = _common.setup(fresh=args.fresh)

    from django.db import connection, transaction

    from acquiring import services
    from acquiring.models import SettlementBatch
    from wallet import ledger
    from wallet import services as wallet_services

    run = uuid.uuid4().hex[:8]
    merchant_ids = merchants(args.merchants)
    clearing = wallet_services.system_account_id("card_clearing")
    payable = wallet_services.system_account_id("card_merchant_payable")
    for code in ("fee_revenue", "payout_clearing"):
        wallet_services.system_account_id(code)
    last = SettlementBatch.objects.order_by("-last_movement_id").first()
    after_id = last.last_movement_id if last else 0
    with connection.cursor() as cursor:  # anything left unsettled by an interrupted run is settled here too
        cursor.execute("SELECT COUNT(*) FROM acquiring_movement WHERE id > %s", [after_id])
        (leftover,) = cursor.fetchone()

    with transaction.atomic():
        # the movements need an entry: one of 1 minor unit, then one with the rest of the total,
        # so that the books hold exactly what the captures and refunds one by one would have moved
        posted = ledger.post(
            kind="bench",
            reference=f"bench-eod-setup:{run}:1",
            currency="RSD",
            legs=[(clearing, -1), (payable, 1)],
            memo="bench card captures (1)",
        )
        with connection.cursor() as cursor:
            gen = generate(cursor, merchant_ids, args.transactions, posted.entry_id, run)
        ledger.post(
            kind="bench",
            reference=f"bench-eod-setup:{run}:rest",
            currency="RSD",
            legs=[(clearing, -(gen["total"] - 1)), (payable, gen["total"] - 1)],
            memo="bench card captures less refunds (rest)",
        )
    _common.analyze("acquiring_movement", "acquiring_cardtransaction", "acquiring_cardrefund")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_baseline AS " + BASELINE.split("AS\n", 1)[1] + " LIMIT 0", [after_id]
        )
        cursor.execute("SELECT COUNT(*) FROM acquiring_movement WHERE id > %s", [after_id])  # warm the cache

    base_before, groups = baseline(after_id)
    business_date = date(2200, 1, 1) + timedelta(days=int(time.time() // 60) % 2_000_000)
    started = time.perf_counter()
    (batch,) = services.end_of_day(business_date=business_date)
    eod_seconds = time.perf_counter() - started
    base_after, _ = baseline(after_id)
    sql_seconds = min(base_before, base_after)
    totals = services.batch_totals(batch)
    problems = {k: v for k, v in _common.check_ledger().items() if v}
    peak = rss_mb()
    ratio = eod_seconds / sql_seconds if sql_seconds else float("inf")

    _common.print_table(
        ["measure", "value"],
        [
            ["database", f"{db.name} ({db.state})"],
            ["card transactions generated", f"{args.transactions:,} in {gen['seconds']:.1f} s"],
            ["movements settled (captures + refunds)", f"{gen['movements'] + leftover:,}"],
            ["merchants (settlement lines)", f"{batch.lines.count():,} (baseline groups {groups:,})"],
            ["gross / refunds", f"{totals['gross']:,} / {totals['refunds']:,}"],
            ["commission fixed / percentage", f"{totals['fixed']:,} / {totals['percent']:,}"],
            ["net payout", f"{totals['net']:,}"],
            ["sql baseline (before, after) s", f"{base_before:.3f}, {base_after:.3f}"],
            ["end of day s", f"{eod_seconds:.3f}"],
            ["ratio (target <= 3)", f"{ratio:.2f}"],
            ["peak RSS MB (target < 500)", f"{peak:.0f}"],
            ["check_ledger", problems or "clean"],
        ],
        title="Card end of day",
    )
    _common.print_json(
        {
            "benchmark": "end_of_day",
            "transactions": args.transactions,
            "merchants": args.merchants,
            "eod_seconds": round(eod_seconds, 3),
            "sql_baseline_seconds": round(sql_seconds, 3),
            "ratio": round(ratio, 2),
            "peak_rss_mb": round(peak, 1),
            "ratio_ok": ratio <= RATIO_TARGET,
            "rss_ok": peak < RSS_TARGET_MB,
            "ledger_clean": not problems,
        }
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
