from django.core.management.base import BaseCommand

from merchants.payments import expire_payments


class Command(BaseCommand):
    help = "Expires open payment requests past their expiry and tells their merchants."

    def handle(self, *args, **options):
        self.stdout.write(f"{expire_payments()} payment request(s) expired")
