from django.core.management.base import BaseCommand

from tariffs.demo import seed_demo_tariffs


class Command(BaseCommand):
    help = "Loads the demo tariff (PayNet's published fees) for the platform currency. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--currency", default=None, help="Default: PLATFORM_CURRENCY.")

    def handle(self, *args, currency=None, **options):
        created = seed_demo_tariffs(currency)
        self.stdout.write(
            f"Demo tariff: {created} plan(s) created." if created else "Demo tariff already loaded."
        )
