from django.core.management.base import BaseCommand

from vouchers import services


class Command(BaseCommand):
    help = (
        "Returns every voucher past its expiry to the operator (one ledger entry each), as the "
        "daily job does. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=100_000, help="at most this many vouchers")

    def handle(self, *args, limit, **options):
        done = services.expire_due(limit=limit)
        self.stdout.write(f"{done} voucher(s) expired and returned to the operator")
