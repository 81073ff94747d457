import uuid

import factory
from django.conf import settings
from factory.django import DjangoModelFactory

from wallet import ledger, services
from wallet.models import Account, User


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("phone",)

    phone = factory.Sequence(lambda n: f"+38164{n:07d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.first_name.lower()}@example.com")
    password = factory.django.Password("correct horse battery")


class WalletFactory(DjangoModelFactory):
    class Meta:
        model = Account

    kind = Account.Kind.CUSTOMER
    owner = factory.SubFactory(UserFactory)
    name = factory.LazyAttribute(lambda a: f"Wallet {a.owner.phone}")
    currency = settings.PLATFORM_CURRENCY


class MerchantAccountFactory(DjangoModelFactory):
    class Meta:
        model = Account

    kind = Account.Kind.MERCHANT
    name = factory.Sequence(lambda n: f"Shop {n}")
    currency = settings.PLATFORM_CURRENCY
    hot = True


def fund(account: Account, amount: int, *, reference: str | None = None) -> ledger.Posted:
    """Credits an account from terminal cash clearing, as a cash top-up would."""
    clearing = services.system_account_id("terminal_cash_clearing", account.currency)
    return ledger.post(
        kind="topup",
        reference=reference or f"test-fund:{account.pk}:{uuid.uuid4()}",
        currency=account.currency,
        legs=[(clearing, -amount), (account.pk, amount)],
    )


def pin_sent_to(phone, pattern: str = r"\b\d{6}\b") -> str:
    """The secret in the newest SMS to `phone`, read from the outbox as a person would read it.

    Messages wait as notification rows until a worker delivers them; tests read the delivered
    SMS when there is one, else the row that is about to be sent."""
    import re

    from notifications.models import Notification, SmsMessage

    phone = str(phone)
    sms = SmsMessage.objects.filter(to=phone).order_by("-id").first()
    pending = Notification.objects.filter(to_phone=phone, channel="sms").order_by("-id").first()
    texts = [m.body for m in (pending, sms) if m is not None]
    if sms and pending and sms.created_at >= pending.created_at:
        texts.reverse()
    for text in texts:
        found = re.search(pattern, text)
        if found:
            return found.group(0)
    raise AssertionError(f"no SMS with {pattern} to {phone}")


def active_customer(phone: str | None = None, *, balance: int = 0, tier: str = "verified", **fields) -> User:
    """A customer whose phone is confirmed, with an active wallet of `tier` (its limits) holding
    `balance` (funded by a cash top-up)."""
    from django.utils import timezone

    from wallet import customers

    user = UserFactory(**({"phone": phone} if phone else {}), tier=tier, **fields)
    user.phone_verified_at = timezone.now()
    user.save(update_fields=["phone_verified_at"])
    wallet = customers.open_customer_wallet(user=user, status=Account.Status.ACTIVE)
    if balance:
        fund(wallet, balance)
    return user


def wallet_of(user: User) -> Account:
    return Account.objects.get(owner=user, kind=Account.Kind.CUSTOMER, currency=settings.PLATFORM_CURRENCY)


def publish_tariff(service: str, **terms):
    """A tariff version for `service`, in force from a moment ago (tariffs.services.publish_version)."""
    from datetime import timedelta

    from django.utils import timezone

    from tariffs import services as tariffs

    terms.setdefault("valid_from", timezone.now() - timedelta(seconds=1))
    return tariffs.publish_version(service=service, **terms)
