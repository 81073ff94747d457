from django.core.management.base import BaseCommand

from wallet import autopay


class Command(BaseCommand):
    help = (
        "Pays the automatic payments due now (Celery beat runs it every few minutes). "
        "Safe to run at any time and any number of times: each period is paid at most once."
    )

    def handle(self, *args, **options):
        summary = autopay.run_due_payments()
        self.stdout.write(
            f"{summary.paid} paid, {summary.retrying} failed and will retry, {summary.failed} failed, "
            f"{summary.skipped} skipped"
        )
