"""Demo data for `make run`: a staff user, three customers with wallets (two funded by a cash
top-up), a merchant, an agent (terminal operator) and every system account.

Everything goes through the services and `ledger.post`, with fixed phone numbers, names and
idempotency references, so running it again changes nothing. DEMO ONLY: the staff password is
public (printed by scripts/run.sh), so the command refuses to run with PLATFORM_ENV=production.
"""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from wallet import customers, ledger, services
from wallet.models import Account, Entry, User

DEMO_ADMIN_PHONE = "+381600000001"
DEMO_ADMIN_PASSWORD = "demo-admin-only"  # noqa: S105 - public on purpose, refused in production
DEMO_CUSTOMER_PASSWORD = "demo-customer-only"  # noqa: S105

# (phone, first name, last name, cash top-up in minor units or 0)
DEMO_CUSTOMERS = [
    ("+381600000002", "Ana", "Demo", 500_000),
    ("+381600000003", "Marko", "Demo", 125_000),
    ("+381600000004", "Jelena", "Demo", 0),
]
DEMO_MERCHANT = "Demo shop"
DEMO_AGENT = "Demo agent"


class Command(BaseCommand):
    help = (
        "Loads demo data (staff user, customers, wallets, merchant, agent, system accounts). "
        "Idempotent. Demo only: refused with PLATFORM_ENV=production."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--admin-password",
            default=os.environ.get("DEMO_ADMIN_PASSWORD", DEMO_ADMIN_PASSWORD),
            help="Password of the demo staff user (default: $DEMO_ADMIN_PASSWORD or %(default)s).",
        )

    def handle(self, *args, admin_password, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo creates a staff user with a public password: not in production.")
        currency = settings.PLATFORM_CURRENCY
        self.changes = 0

        with transaction.atomic():
            admin = self._user(
                DEMO_ADMIN_PHONE,
                admin_password,
                first_name="Demo",
                last_name="Staff",
                is_staff=True,
                is_superuser=True,
            )

            for code in services.SYSTEM_ACCOUNTS:
                self._account(Account.objects.filter(code=code, currency=currency).exists(), code)
                services.system_account(code, currency)
            clearing = services.system_account("terminal_cash_clearing", currency)

            for kind, name in ((Account.Kind.MERCHANT, DEMO_MERCHANT), (Account.Kind.AGENT, DEMO_AGENT)):
                exists = Account.objects.filter(kind=kind, name=name, currency=currency).exists()
                self._account(exists, name)
                if not exists:
                    services.open_business_account(kind=kind, name=name, currency=currency)

            for phone, first_name, last_name, top_up in DEMO_CUSTOMERS:
                user = self._user(phone, DEMO_CUSTOMER_PASSWORD, first_name=first_name, last_name=last_name)
                exists = Account.objects.filter(owner=user, currency=currency, kind="customer").exists()
                self._account(exists, f"wallet of {phone}")
                if user.phone_verified_at is None:  # demo customers are past the SMS PIN step
                    user.phone_verified_at = timezone.now()
                    user.save(update_fields=["phone_verified_at"])
                wallet = customers.open_customer_wallet(
                    user=user, status=Account.Status.ACTIVE, currency=currency
                )
                reference = f"demo:cash-topup:{phone}:{currency}"
                # post() would return the first entry anyway; asking first keeps a second run
                # from touching the database at all (not even the id sequence).
                if top_up and not Entry.objects.filter(reference=reference).exists():
                    posted = ledger.post(
                        kind="topup",
                        reference=reference,
                        currency=currency,
                        legs=[(clearing.pk, -top_up), (wallet.pk, top_up)],
                        memo="Cash top-up at a demo terminal",
                        created_by_id=admin.pk,
                    )
                    if posted.created:
                        self.changes += 1
                        self.stdout.write(f"  posted cash top-up of {top_up} minor units to {phone}")

        if self.changes:
            self.stdout.write(self.style.SUCCESS(f"Demo data loaded ({self.changes} change(s))."))
        else:
            self.stdout.write("Demo data already loaded; nothing changed.")
        self.stdout.write(f"Staff login (DEMO ONLY): {DEMO_ADMIN_PHONE} / {admin_password}")
        self.stdout.write(
            "Customers: " + ", ".join(p for p, *_ in DEMO_CUSTOMERS) + f" / {DEMO_CUSTOMER_PASSWORD}"
        )

    def _user(self, phone: str, password: str, **fields) -> User:
        user = User.objects.filter(phone=phone).first()
        if user is None:
            self.changes += 1
            self.stdout.write(f"  created user {phone}")
            if fields.get("is_superuser"):
                return User.objects.create_superuser(phone, password, **fields)
            return User.objects.create_user(phone, password, **fields)
        # Keep the printed login true, without rewriting the row when it already is.
        changed = [
            name
            for name in ("is_staff", "is_superuser")
            if name in fields and getattr(user, name) != fields[name]
        ]
        for name in changed:
            setattr(user, name, fields[name])
        if not user.is_active:
            user.is_active = True
            changed.append("is_active")
        if not user.check_password(password):
            user.set_password(password)
            changed.append("password")
        if changed:
            user.save(update_fields=changed)
            self.changes += 1
            self.stdout.write(f"  reset {', '.join(changed)} of {phone}")
        return user

    def _account(self, exists: bool, label: str) -> None:
        if not exists:
            self.changes += 1
            self.stdout.write(f"  opened account: {label}")
