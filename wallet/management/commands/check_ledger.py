from django.core.management.base import BaseCommand, CommandError

from wallet.integrity import run_checks


class Command(BaseCommand):
    help = "Recomputes the ledger's invariants; exits non-zero and names every violation."

    def handle(self, *args, **options):
        failures = 0
        for name, problems in run_checks().items():
            if problems:
                failures += len(problems)
                self.stdout.write(self.style.ERROR(f"FAIL {name}"))
                for problem in problems:
                    self.stdout.write(f"  - {problem}")
            else:
                self.stdout.write(self.style.SUCCESS(f"ok   {name}"))
        if failures:
            raise CommandError(f"check_ledger: {failures} violation(s) found")
        self.stdout.write("ledger is consistent")
