from django.core.management.base import BaseCommand

from wallet.customers import mark_inactive_wallets


class Command(BaseCommand):
    help = "Marks wallets without a payment for INACTIVE_AFTER_DAYS days as inactive (daily job)."

    def handle(self, *args, **options):
        self.stdout.write(f"{mark_inactive_wallets()} wallet(s) marked inactive")
