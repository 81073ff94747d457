from datetime import date

from django.core.management.base import BaseCommand, CommandError

from acquiring import services


class Command(BaseCommand):
    help = "Card end of day: settles every capture and refund since the previous end of day."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="business date YYYY-MM-DD (default: today, local time)")

    def handle(self, *args, **options):
        try:
            business_date = date.fromisoformat(options["date"]) if options["date"] else None
        except ValueError as exc:
            raise CommandError(f"--date: {exc}") from None
        for batch in services.end_of_day(business_date=business_date):
            t = services.batch_totals(batch)
            self.stdout.write(
                f"{batch.business_date} {batch.currency}: {batch.lines.count()} merchants,"
                f" gross {t['gross']},"
                f" refunds {t['refunds']}, commission {t['fixed']} fixed + {t['percent']} percentage,"
                f" net {t['net']} (movements {batch.first_movement_id}-{batch.last_movement_id})"
            )
