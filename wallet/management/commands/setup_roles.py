from django.core.management.base import BaseCommand

from wallet.roles import setup_roles


class Command(BaseCommand):
    help = "Creates or updates the staff role groups (support, finance, risk, admin); also run by migrate."

    def handle(self, *args, **options):
        for role, count in setup_roles().items():
            self.stdout.write(f"{role}: {count} permission(s)")
