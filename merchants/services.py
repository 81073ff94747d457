"""Merchant onboarding, API keys and webhook settings (payments are in merchants.payments)."""

import hashlib
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.utils import timezone

from notifications import webhooks
from wallet import services as wallet_services
from wallet.models import Account
from wallet.sql import Columns, Statements

from .errors import ForbiddenCategory, InvalidMerchantData
from .models import FORBIDDEN_CATEGORIES, ApiKey, Merchant, MerchantMember
from .validators import pib_is_valid, registration_number_is_valid

KEY_PREFIX = "sk_live_"


def _validate(*, registration_number: str, tax_id: str) -> None:
    errors = {}
    if not registration_number_is_valid(registration_number):
        errors["registration_number"] = ["The registration number (matični broj) has 8 digits."]
    if not pib_is_valid(tax_id):
        errors["tax_id"] = ["Not a valid PIB: 9 digits with a correct check digit."]
    if errors:
        raise InvalidMerchantData(fields=errors)


@transaction.atomic
def onboard_merchant(
    *,
    legal_name: str,
    registration_number: str,
    tax_id: str,
    address: str,
    contact_email: str,
    category: str,
    website: str = "",
    contact_phone: str = "",
    webhook_url: str = "",
    currency: str | None = None,
) -> Merchant:
    """Staff record a merchant (status pending) with its own hot ledger account."""
    _validate(registration_number=registration_number, tax_id=tax_id)
    if webhook_url:
        validate_webhook_url(webhook_url)
    account = wallet_services.open_business_account(
        kind=Account.Kind.MERCHANT, name=legal_name[:200], currency=currency or settings.PLATFORM_CURRENCY
    )
    return Merchant.objects.create(
        legal_name=legal_name,
        registration_number=registration_number,
        tax_id=tax_id,
        address=address,
        contact_email=contact_email,
        contact_phone=contact_phone,
        website=website,
        category=category,
        account=account,
        webhook_url=webhook_url,
        webhook_secret=webhooks.generate_secret(),
    )


def activate_merchant(*, merchant: Merchant) -> None:
    if merchant.category in FORBIDDEN_CATEGORIES:
        raise ForbiddenCategory(fields={"category": [ForbiddenCategory.message]})
    Merchant.objects.filter(pk=merchant.pk).update(status=Merchant.Status.ACTIVE, activated_at=timezone.now())
    merchant.status = Merchant.Status.ACTIVE


def suspend_merchant(*, merchant: Merchant) -> None:
    Merchant.objects.filter(pk=merchant.pk).update(status=Merchant.Status.SUSPENDED)
    merchant.status = Merchant.Status.SUSPENDED


def add_member(*, merchant: Merchant, user) -> MerchantMember:
    member, _ = MerchantMember.objects.get_or_create(merchant=merchant, user=user)
    return member


# --- API keys -------------------------------------------------------------------------------------


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(*, merchant: Merchant, name: str = "") -> tuple[ApiKey, str]:
    """Returns the key row and the secret key, which is shown this once and never again."""
    secret = KEY_PREFIX + secrets.token_urlsafe(24)
    key = ApiKey.objects.create(
        merchant=merchant, name=name[:100], prefix=secret[:16], hashed=hash_key(secret)
    )
    return key, secret


def revoke_api_key(*, merchant: Merchant, prefix: str) -> bool:
    return bool(
        ApiKey.objects.filter(merchant=merchant, prefix=prefix, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


@transaction.atomic
def rotate_api_key(*, merchant: Merchant, prefix: str) -> tuple[ApiKey, str]:
    """A new key replaces the old one, which stops working at once."""
    old = ApiKey.objects.select_for_update().get(merchant=merchant, prefix=prefix, revoked_at__isnull=True)
    old.revoked_at = timezone.now()
    old.save(update_fields=["revoked_at"])
    return create_api_key(merchant=merchant, name=old.name)


_KEY = Columns(ApiKey, "k")
_MERCHANT = Columns(Merchant, "m")
SQL = Statements(
    {
        # The key (not revoked) and its merchant, by the key's hash: every merchant API call.
        "merchants_api_key": (
            "(text)",
            f"SELECT {_KEY.sql}, {_MERCHANT.sql} FROM merchants_apikey k"
            ' JOIN merchants_merchant m ON m."id" = k."merchant_id"'
            ' WHERE k."hashed" = $1 AND k."revoked_at" IS NULL',
        ),
        "merchants_api_key_used": (
            "(timestamptz, bigint)",
            'UPDATE merchants_apikey SET "last_used_at" = $1 WHERE "id" = $2',
        ),
    }
)


def authenticate_key(secret: str) -> ApiKey | None:
    """The live key of this secret with its merchant (key.merchant), or None. One prepared
    statement, nothing cached: a revoked or rotated key stops working at its next request."""
    if not isinstance(secret, str) or not secret.startswith(KEY_PREFIX) or len(secret) > 100:
        return None
    with connection.cursor() as cursor:
        SQL.execute(cursor, "merchants_api_key", [hash_key(secret)])
        row = cursor.fetchone()
        if row is None:
            return None
        key = _KEY.build(row[: len(_KEY)])
        merchant = _MERCHANT.build(row[len(_KEY) :])
        ApiKey.merchant.field.set_cached_value(key, merchant)
        # At most once a minute, so that a busy merchant does not write on every request.
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            SQL.execute(
                cursor, "merchants_api_key_used", [connection.ops.adapt_datetimefield_value(now), key.pk]
            )
            key.last_used_at = now
    return key


# --- webhooks ---------------------------------------------------------------------------------------


def webhook_target(owner: str) -> tuple[str, str] | None:
    """The merchant's webhook URL and secret now, by its owner key ("merchant:<id>"); None for
    an owner that is no merchant (notifications.webhooks.register_targets)."""
    prefix, _, pk = owner.partition(":")
    if prefix != "merchant" or not (pk.isascii() and pk.isdigit()):
        return None
    return Merchant.objects.filter(pk=int(pk)).values_list("webhook_url", "webhook_secret").first()


def validate_webhook_url(url: str) -> None:
    try:
        URLValidator(schemes=["https"] if settings.PRODUCTION else ["https", "http"])(url)
    except ValidationError:
        raise InvalidMerchantData(
            "Enter the https:// address of your server's webhook endpoint.",
            fields={"webhook_url": ["Not a valid URL."]},
        ) from None
    if len(url) > 500:
        raise InvalidMerchantData(fields={"webhook_url": ["At most 500 characters."]})
    try:
        urlsplit(url).port  # noqa: B018 - Django's validator lets a port over 65535 through
    except ValueError:
        raise InvalidMerchantData(
            "The webhook URL's port must be a number up to 65535.",
            fields={"webhook_url": ["Not a valid port."]},
        ) from None


@transaction.atomic
def set_webhook(*, merchant: Merchant, url: str, rotate_secret: bool = False) -> Merchant:
    """Where events go; an empty URL stops them (pending ones are then marked failed)."""
    if url:
        validate_webhook_url(url)
    merchant.webhook_url = url
    fields = ["webhook_url"]
    if rotate_secret or not merchant.webhook_secret:
        merchant.webhook_secret = webhooks.generate_secret()
        fields.append("webhook_secret")
    merchant.save(update_fields=fields)
    webhooks.retarget(owner=merchant.owner_key, url=merchant.webhook_url, secret=merchant.webhook_secret)
    return merchant
