from django.core.management.base import BaseCommand

from acquiring import services


class Command(BaseCommand):
    help = "Resolves card transactions whose processor answer was lost (query, or reversal)."

    def handle(self, *args, **options):
        self.stdout.write(f"{services.resolve_pending()} transactions resolved")
