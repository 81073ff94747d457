from django.core.management.base import BaseCommand

from notifications import webhooks


class Command(BaseCommand):
    help = (
        "Enqueues the webhook deliveries that are due (what the every-minute sweep does). "
        "With --sync, delivers them in this process instead, for when the broker or workers are down."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sync", action="store_true", help="deliver here instead of enqueueing")
        parser.add_argument("--limit", type=int, default=500)

    def handle(self, *args, sync=False, limit=500, **options):
        if sync:
            outcomes = webhooks.deliver_due_outcomes(limit=limit)
            summary = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())) or "nothing due"
            self.stdout.write(f"delivered in process: {summary}")
        else:
            self.stdout.write(f"enqueued {webhooks.deliver_due(limit=limit)} webhook delivery(ies)")
