from django.core.management.base import BaseCommand

from wallet.sealing import seal_all


class Command(BaseCommand):
    help = "Seals committed ledger entries into the hash chain (also run every minute by Celery beat)."

    def handle(self, *args, **options):
        self.stdout.write(f"sealed {seal_all()} entr(y/ies)")
