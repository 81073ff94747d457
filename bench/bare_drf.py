"""Calibration for bench/payments.py: one bare DRF endpoint that runs bench/ledger.py's raw-SQL
transfer, measured against that transfer itself in the same run, on this machine.

    .venv/bin/python bench/bare_drf.py [--seconds 10] [--rounds 3] [--clients 8] [--server-workers 3]

The merchant payments issue gives about 26% for such an endpoint on its machines and asks of a
complete payment flow (three requests: create, initiate, confirm) at least 8% of the raw transfer.
How far Python, the HTTP server and the extra round trips lag the raw transfer differs from machine
to machine (a raw transfer is mostly system calls, a request mostly Python), so this figure is the
scale against which bench/payments.py's ratio_to_raw_sql reads: three bare requests per flow would
reach about a third of it here.

The endpoint (`POST /bench/bare-transfer/`, added to the URLs by bench/_wsgi.py in this run's
server only) is an APIView with the project's DRF defaults (token authentication: one prepared
look-up; IsAuthenticated; the JSON parser and renderer) and no serializer: it reads the two wallet
ids and a reference from the body and runs the raw transfer's five statements through Django's
cursor in one transaction. The server, the clients (one kept-alive connection each) and the raw
baseline are bench/payments.py's; the rounds alternate the two measurements.

Prints a table and one JSON line (bare_per_s, raw_sql_tps, ratio_to_raw_sql, per_flow_of_three).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time

import _common


def urlpatterns():
    """The endpoint's URL (bench/_wsgi.py adds it to the server's URLs when BENCH_BARE_TRANSFER is set)."""
    import ledger as ledger_bench
    from django.db import connection, transaction
    from django.urls import path
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class BareTransfer(APIView):
        def post(self, request):
            data = request.data
            with transaction.atomic(), connection.cursor() as cur:
                entry_id = ledger_bench.raw_transfer(
                    cur, int(data["payer"]), int(data["payee"]), data["ref"], data["currency"]
                )
            return Response({"entry": entry_id})

    return [path("bench/bare-transfer/", BareTransfer.as_view())]


def make_bare_op(base_url: str, pairs, tokens, currency: str, tag: str):
    def make(index):
        payer, payee = pairs[index]
        client = _common.JsonClient(base_url, {"Authorization": f"Token {tokens[index]}"})
        counter = itertools.count()
        prefix = f"{tag}-w{index}-p{os.getpid()}-"

        def op():
            body = {"payer": payer, "payee": payee, "ref": f"{prefix}{next(counter)}", "currency": currency}
            reply = client.post("/bench/bare-transfer/", body)
            if reply.status_code != 200:
                raise AssertionError(f"bare transfer: HTTP {reply.status_code} {reply.text[:300]}")

        op.close = client.close
        return op

    return make


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _common.add_arguments(parser, seconds=10.0, rounds=3)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--server-workers", type=int, default=3, help="server worker processes (default 3)")
    args = parser.parse_args()
    n = args.clients

    db = _common.setup(fresh=args.fresh)
    import ledger as ledger_bench
    from rest_framework.authtoken.models import Token

    from wallet.models import Account

    run = _common.run_id()
    currency, pairs, _ = ledger_bench.prepare(n, run)
    owners = dict(Account.objects.filter(pk__in=[p for p, _ in pairs]).values_list("pk", "owner_id"))
    tokens = [Token.objects.create(user_id=owners[payer]).key for payer, _ in pairs]
    queue = f"bench-bare-{run}"
    server = _common.Server(
        name="bare",
        workers=args.server_workers,
        threads=1,
        queue=queue,
        app_name=queue,
        ready_path="/healthz",
        extra_env={"BENCH_BARE_TRANSFER": "1"},
    )
    print(
        f"bare DRF bench: database {db.name}, run {run}, {args.rounds} round(s) x {args.seconds:g} s each,"
        f" {n} clients, {server.kind}, {_common.machine()}",
        flush=True,
    )
    bare_rounds, raw_rounds = [], []
    try:
        server.start()
        for r in range(args.rounds):
            for what in ("bare", "raw") if r % 2 == 0 else ("raw", "bare"):
                tag = f"bench-{run}-{what}-r{r}"
                if what == "raw":
                    make = ledger_bench.make_raw_op(pairs, currency, tag)
                else:
                    make = make_bare_op(server.url, pairs, tokens, currency, tag)
                result = _common.run_workers(make, workers=n, seconds=args.seconds, label=what)
                (raw_rounds if what == "raw" else bare_rounds).append(result)
                print(
                    f"  round {r + 1} {what:4}: {result.ops_per_s:8.1f} transfers/s"
                    f"  p50 {result.percentile_ms(50):6.2f} ms  p99 {result.percentile_ms(99):6.2f} ms"
                    + (f"  ERRORS {result.errors}: {result.first_error}" if result.errors else ""),
                    flush=True,
                )
                time.sleep(0.5)
    finally:
        server.stop()
        _common.delete_queue(queue)

    bare = statistics.median(r.ops_per_s for r in bare_rounds)
    raw = statistics.median(r.ops_per_s for r in raw_rounds)
    ratio = bare / raw if raw else 0.0
    per_round = [
        b.ops_per_s / w.ops_per_s for b, w in zip(bare_rounds, raw_rounds, strict=True) if w.ops_per_s
    ]
    _common.print_table(
        ["measure", "value", "rounds"],
        [
            [
                "bare DRF transfers/s (median)",
                round(bare, 1),
                " ".join(f"{r.ops_per_s:.0f}" for r in bare_rounds),
            ],
            [
                "raw-SQL transfers/s (median)",
                round(raw, 1),
                " ".join(f"{r.ops_per_s:.0f}" for r in raw_rounds),
            ],
            ["ratio (issue: about 0.26)", round(ratio, 3), " ".join(f"{x:.3f}" for x in per_round)],
            ["a flow of three such requests", round(ratio / 3, 3), "-"],
        ],
        title="One bare DRF endpoint running the raw transfer, against the raw transfer",
    )
    errors = sum(r.errors for r in bare_rounds + raw_rounds)
    _common.print_json(
        {
            "bench": "bare_drf",
            "clients": n,
            "server": server.kind,
            "bare_per_s": round(bare, 1),
            "raw_sql_tps": round(raw, 1),
            "ratio_to_raw_sql": round(ratio, 3),
            "per_flow_of_three": round(ratio / 3, 3),
            "errors": errors,
            **_common.machine(),
        }
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
