"""Prints the demo staff user's current TOTP code (and how to add the key to an authenticator app).
DEMO ONLY: refused in production, where every staff member has their own secret device."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp

from wallet.management.commands.seed_demo import DEMO_ADMIN_PHONE, DEMO_TOTP_KEY, totp_base32


class Command(BaseCommand):
    help = "Prints the current TOTP code of the demo staff user (demo only)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--uri", action="store_true", help="Print the otpauth:// URI for an authenticator app."
        )

    def handle(self, *args, uri=False, **options):
        if settings.PRODUCTION:
            raise CommandError("demo_totp prints a public demo secret: not in production.")
        if uri:
            issuer = settings.OTP_TOTP_ISSUER.replace(" ", "%20")
            self.stdout.write(
                f"otpauth://totp/{issuer}:{DEMO_ADMIN_PHONE.replace('+', '%2B')}?secret={totp_base32()}"
                f"&issuer={issuer}&digits=6&period=30&algorithm=SHA1"
            )
            return
        self.stdout.write(f"{totp(bytes.fromhex(DEMO_TOTP_KEY)):06d}")
