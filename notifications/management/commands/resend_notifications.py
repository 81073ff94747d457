from django.core.management.base import BaseCommand

from notifications import services


class Command(BaseCommand):
    help = (
        "Re-enqueues notifications left pending and due (broker down, worker killed). "
        "With --sync, delivers them in this process instead, for when the broker or workers are down."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sync", action="store_true", help="deliver here instead of enqueueing")
        parser.add_argument("--limit", type=int, default=1000)

    def handle(self, *args, sync=False, limit=1000, **options):
        if sync:
            outcomes = services.deliver_unsent(limit=limit)
            summary = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())) or "nothing due"
            self.stdout.write(f"delivered in process: {summary}")
        else:
            self.stdout.write(f"enqueued {services.resend_unsent(limit=limit)} notification(s)")
