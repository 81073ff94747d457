from django.core.management.base import BaseCommand

from acquiring import services


class Command(BaseCommand):
    help = "Reverses card preauthorizations (PA) not captured within 168 hours."

    def handle(self, *args, **options):
        self.stdout.write(f"{services.expire_reservations()} reservations expired")
