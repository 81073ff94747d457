"""Demo data for `make run`: a staff user, three customers with wallets (two funded by a cash
top-up), an agent (terminal operator) and every system account. (The demo merchant, with its
shop, is merchants' `seed_demo_shop`: wallet knows nothing of merchants.)

Everything goes through the services and `ledger.post`, with fixed phone numbers, names and
idempotency references, so running it again changes nothing. DEMO ONLY: the staff password is
public (printed by scripts/run.sh), so the command refuses to run with PLATFORM_ENV=production.
"""

import base64
import os

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from wallet import customers, ledger, roles, services
from wallet.models import Account, Entry, User

DEMO_ADMIN_PHONE = "+381600000001"
DEMO_ADMIN_PASSWORD = "demo-admin-only"  # noqa: S105 - public on purpose, refused in production
DEMO_CUSTOMER_PASSWORD = "demo-customer-only"  # noqa: S105

# (phone, first name, last name, cash top-up in minor units or 0, address for receipts)
DEMO_CUSTOMERS = [
    ("+381600000002", "Ana", "Demo", 500_000, "Knez Mihailova 1, Beograd"),
    ("+381600000003", "Marko", "Demo", 125_000, "Zmaj Jovina 3, Novi Sad"),
    ("+381600000004", "Jelena", "Demo", 0, ""),
]
DEMO_AGENT = "Demo agent"
# The demo staff user's second factor (TOTP, RFC 6238). DEMO ONLY: the key is public (it is the
# RFC's own test key, "12345678901234567890"); add it to an authenticator app, or print the current
# code with `python manage.py demo_totp`.
DEMO_TOTP_KEY = "3132333435363738393031323334353637383930"  # hex, as TOTPDevice.key
DEMO_TOTP_DEVICE = "demo authenticator"


class Command(BaseCommand):
    help = (
        "Loads demo data (staff user, customers, wallets, agent, system accounts). "
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

            kind = Account.Kind.AGENT
            exists = Account.objects.filter(kind=kind, name=DEMO_AGENT, currency=currency).exists()
            self._account(exists, DEMO_AGENT)
            if not exists:
                services.open_business_account(kind=kind, name=DEMO_AGENT, currency=currency)

            for phone, first_name, last_name, top_up, address in DEMO_CUSTOMERS:
                user = self._user(
                    phone, DEMO_CUSTOMER_PASSWORD, first_name=first_name, last_name=last_name, address=address
                )
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

            self._totp_device(admin)
            roles.setup_roles()

        # PayNet's published tariff (tariffs/demo.py), by command name: wallet imports no other app.
        call_command("seed_demo_tariffs", currency=currency, stdout=self.stdout)

        if self.changes:
            self.stdout.write(self.style.SUCCESS(f"Demo data loaded ({self.changes} change(s))."))
        else:
            self.stdout.write("Demo data already loaded; nothing changed.")
        self.stdout.write(f"Staff login (DEMO ONLY): {DEMO_ADMIN_PHONE} / {admin_password} + TOTP code")
        self.stdout.write(f"  authenticator key (base32): {totp_base32()}; current code: manage.py demo_totp")
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

    def _totp_device(self, admin: User) -> None:
        device = TOTPDevice.objects.filter(user=admin, name=DEMO_TOTP_DEVICE).first()
        if device is None:
            TOTPDevice.objects.create(user=admin, name=DEMO_TOTP_DEVICE, key=DEMO_TOTP_KEY, confirmed=True)
            self.changes += 1
            self.stdout.write("  created the demo staff user's TOTP device")
        elif device.key != DEMO_TOTP_KEY or not device.confirmed:
            device.key, device.confirmed = DEMO_TOTP_KEY, True
            device.save(update_fields=["key", "confirmed"])
            self.changes += 1
            self.stdout.write("  reset the demo staff user's TOTP device")


def totp_base32(key_hex: str = DEMO_TOTP_KEY) -> str:
    return base64.b32encode(bytes.fromhex(key_hex)).decode()
