"""The demo shop of `make run` (examples/shop/): an active merchant with a merchant login, its
webhook URL pointing at the shop, and an API key.

API keys are kept hashed, so the key (with the webhook secret) is written to
$VAR_DIR/demo-shop.json for the shop to read; a second run reuses that key while it is still
valid and changes nothing. DEMO ONLY: the merchant password is public and the file holds secrets,
so the command refuses to run with PLATFORM_ENV=production.
"""

import json
import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from merchants import services
from merchants.models import Merchant, MerchantMember

DEMO_SHOP = {
    "legal_name": "Demo shop d.o.o.",
    "registration_number": "21734567",
    "tax_id": "101134702",
    "address": "Knez Mihailova 10, 11000 Beograd",
    "contact_email": "shop@demo.invalid",
    "contact_phone": "+381111234567",
    "category": "retail",
}
DEMO_MERCHANT_PHONE = "+381600000009"
DEMO_MERCHANT_PASSWORD = "demo-merchant-only"  # noqa: S105 - public on purpose, refused in production
KEY_NAME = "demo shop (examples/shop)"


def shop_url() -> str:
    """Where examples/shop/shop.py listens (scripts/run.sh passes SHOP_PORT to both)."""
    return f"http://127.0.0.1:{os.environ.get('SHOP_PORT') or 8001}"


class Command(BaseCommand):
    help = (
        "Loads the demo shop's merchant (active, with a merchant login, webhook URL and API key) and "
        "writes its API key and webhook secret to $VAR_DIR/demo-shop.json. Idempotent. Demo only: "
        "refused with PLATFORM_ENV=production."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--webhook-url",
            default=None,
            help="Where the shop gets webhooks (default: http://127.0.0.1:$SHOP_PORT/webhook, port 8001).",
        )
        parser.add_argument(
            "--output",
            default=None,
            help="The file for the shop's key and secret (default: $VAR_DIR/demo-shop.json).",
        )

    def handle(self, *args, webhook_url, output, **options):
        if settings.PRODUCTION:
            raise CommandError(
                "seed_demo_shop writes an API key to a file and sets a public password: not in production."
            )
        webhook_url = webhook_url or f"{shop_url()}/webhook"
        path = Path(output) if output else Path(settings.VAR_DIR) / "demo-shop.json"
        self.changes = 0

        with transaction.atomic():
            merchant = self._merchant(webhook_url)
            self._member(merchant)
            if merchant.webhook_url != webhook_url or not merchant.webhook_secret:
                services.set_webhook(merchant=merchant, url=webhook_url)
                self._changed(f"webhook URL set to {webhook_url}")
            api_key = self._api_key(merchant, self._read(path).get("api_key"))

        state = {
            "merchant": merchant.legal_name,
            "platform_url": settings.PLATFORM_URL,
            "currency": merchant.account.currency,
            "api_key": api_key,
            "webhook_secret": merchant.webhook_secret,
            "webhook_url": merchant.webhook_url,
        }
        if self._read(path) != state:
            self._write(path, state)
            self._changed(f"wrote {path}")

        if self.changes:
            self.stdout.write(self.style.SUCCESS(f"Demo shop loaded ({self.changes} change(s))."))
        else:
            self.stdout.write("Demo shop already loaded; nothing changed.")
        self.stdout.write(
            f"Merchant login (DEMO ONLY, pages at /merchant/): {DEMO_MERCHANT_PHONE} / "
            f"{DEMO_MERCHANT_PASSWORD}"
        )

    # --- the pieces ------------------------------------------------------------------------------

    def _changed(self, what: str) -> None:
        self.changes += 1
        self.stdout.write(f"  {what}")

    def _merchant(self, webhook_url: str) -> Merchant:
        merchant = Merchant.objects.select_related("account").filter(tax_id=DEMO_SHOP["tax_id"]).first()
        if merchant is None:
            merchant = services.onboard_merchant(
                **DEMO_SHOP,
                website=f"{shop_url()}/",
                webhook_url=webhook_url,
                currency=settings.PLATFORM_CURRENCY,
            )
            self._changed(f"onboarded merchant {merchant.legal_name}")
        elif merchant.legal_name != DEMO_SHOP["legal_name"]:
            raise CommandError(
                f"PIB {DEMO_SHOP['tax_id']} already belongs to {merchant.legal_name!r}, not the demo shop."
            )
        if merchant.status != Merchant.Status.ACTIVE:
            services.activate_merchant(merchant=merchant)
            self._changed("activated the merchant")
        return merchant

    def _member(self, merchant: Merchant) -> None:
        User = get_user_model()
        user = User.objects.filter(phone=DEMO_MERCHANT_PHONE).first()
        if user is None:
            user = User.objects.create_user(
                DEMO_MERCHANT_PHONE, DEMO_MERCHANT_PASSWORD, first_name="Demo", last_name="Merchant"
            )
            user.phone_verified_at = timezone.now()
            user.save(update_fields=["phone_verified_at"])
            self._changed(f"created user {DEMO_MERCHANT_PHONE}")
        elif not user.check_password(DEMO_MERCHANT_PASSWORD) or not user.is_active:
            # Keep the printed login true.
            user.set_password(DEMO_MERCHANT_PASSWORD)
            user.is_active = True
            user.save(update_fields=["password", "is_active"])
            self._changed(f"reset the password of {DEMO_MERCHANT_PHONE}")
        if not MerchantMember.objects.filter(merchant=merchant, user=user).exists():
            services.add_member(merchant=merchant, user=user)
            self._changed(f"made {DEMO_MERCHANT_PHONE} a member of {merchant.legal_name}")

    def _api_key(self, merchant: Merchant, saved: str | None) -> str:
        """The saved key while it still works for this merchant; otherwise a new one (and the demo
        keys made before it are revoked)."""
        if (
            saved
            and merchant.api_keys.filter(hashed=services.hash_key(saved), revoked_at__isnull=True).exists()
        ):
            return saved
        for old in merchant.api_keys.filter(name=KEY_NAME, revoked_at__isnull=True):
            services.revoke_api_key(merchant=merchant, prefix=old.prefix)
        key, secret = services.create_api_key(merchant=merchant, name=KEY_NAME)
        self._changed(f"created API key {key.prefix}…")
        return secret

    @staticmethod
    def _read(path: Path) -> dict:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _write(path: Path, state: dict) -> None:
        """Readable by this user only (it holds the key); replaced atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(state, out, indent=2)
            out.write("\n")
        os.replace(temporary, path)
