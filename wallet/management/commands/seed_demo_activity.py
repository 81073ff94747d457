"""Demo activity for the back-office dashboard: wallet activity on each of the past days (cash top-ups,
transfers, payments to the demo merchant, withdrawals), posted through ledger.post with fixed
references and a seeded generator, so running it again changes nothing.

Run after seed_demo (and seed_demo_shop, whose merchant receives the payments; without a merchant
account the payments are left out). Vouchers and card payments are left to their own apps' services
(their books are checked against their own records). DEMO ONLY: the entries are dated in the past by
giving ledger.post a past clock, which nothing but this command does; refused in production.
"""

import datetime
import random
from unittest import mock

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from wallet import ledger, sealing, services
from wallet.management.commands.seed_demo import DEMO_CUSTOMERS
from wallet.models import Account, Entry

PREFIX = "demo:history:"


class Command(BaseCommand):
    help = "Posts demo activity over the past days (idempotent; demo only)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=14)

    def handle(self, *args, days, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo_activity posts made-up entries: not in production.")
        if Entry.objects.filter(reference__startswith=PREFIX).exists():
            self.stdout.write("Demo activity already posted; nothing changed.")
            self._seal()
            return
        currency = settings.PLATFORM_CURRENCY
        wallets = list(
            Account.objects.filter(
                kind=Account.Kind.CUSTOMER,
                owner__phone__in=[p for p, *_ in DEMO_CUSTOMERS],
                currency=currency,
            )
            .order_by("owner__phone")
            .values_list("pk", flat=True)
        )
        if len(wallets) < 2:
            raise CommandError("Run seed_demo first (the demo customers' wallets are missing).")
        with transaction.atomic():
            count = post_history(days=days, currency=currency, wallets=wallets)
        self.stdout.write(self.style.SUCCESS(f"Posted {count} demo entries over the last {days} days."))
        self._seal()

    def _seal(self):
        # The hash chain of the journal now, rather than at the first beat a minute later.
        self.stdout.write(f"Sealed {sealing.seal_all()} entries into the journal's hash chain.")


def post_history(*, days: int, currency: str, wallets: list[int]) -> int:
    system = {code: services.system_account(code, currency).pk for code in services.SYSTEM_ACCOUNTS}
    merchant = (
        Account.objects.filter(kind=Account.Kind.MERCHANT, currency=currency, status=Account.Status.ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    cash, fees = system["terminal_cash_clearing"], system["fee_revenue"]
    rng = random.Random(20240601)
    today = timezone.localdate()
    count = 0
    for back in range(days, 0, -1):
        day = today - datetime.timedelta(days=back)
        plan = []
        for wallet in wallets:  # cash in first, so that every wallet can pay the rest
            amount = rng.randrange(20, 120) * 1000
            plan.append(("topup", [(cash, -amount), (wallet, amount)]))
        payer, payee = rng.sample(wallets, 2)
        amount, fee = rng.randrange(5, 40) * 1000, 2000
        plan.append(("p2p", [(payer, -(amount + fee)), (payee, amount), (fees, fee)]))
        if merchant is not None:
            for _ in range(rng.randrange(1, 4)):
                amount = rng.randrange(3, 30) * 1000
                fee = amount // 50
                plan.append(
                    ("payment", [(rng.choice(wallets), -amount), (merchant, amount - fee), (fees, fee)])
                )
        if back % 3 == 0:
            amount, fee = rng.randrange(10, 30) * 1000, 5000
            plan.append(
                (
                    "withdrawal",
                    [
                        (rng.choice(wallets), -(amount + fee)),
                        (system["payout_clearing"], amount),
                        (fees, fee),
                    ],
                )
            )
        start = timezone.make_aware(datetime.datetime.combine(day, datetime.time(8, 0)))
        for n, (kind, legs) in enumerate(plan):
            moment = start + datetime.timedelta(minutes=n * 37 + rng.randrange(0, 30))
            with mock.patch.object(ledger, "_clock", lambda m=moment: _clock_at(m)):
                ledger.post(
                    kind=kind,
                    reference=f"{PREFIX}{day.isoformat()}:{n}",
                    currency=currency,
                    legs=legs,
                    memo=f"Demo activity ({kind})",
                    enforce_limits=False,
                )
            count += 1
    return count


def _clock_at(moment):
    """ledger._clock() as if it were `moment`."""
    local = timezone.localdate(moment)
    ops = connection.ops
    return (
        ops.adapt_datefield_value(local),
        ops.adapt_datefield_value(local.replace(day=1)),
        ops.adapt_datetimefield_value(moment),
    )
