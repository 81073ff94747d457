from django.core.management.base import BaseCommand

from notifications import services


class Command(BaseCommand):
    help = "Delivers the given notifications now, in this process (idempotent: a sent one is left alone)."

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="+", type=int)

    def handle(self, *args, ids=(), **options):
        for pk in ids:
            self.stdout.write(f"{pk}: {services.deliver(notification_id=pk)}")
