"""Reads of vouchers (and of the accounts a voucher may pay)."""

from django.conf import settings
from django.db.models import QuerySet

from wallet.models import Account

from .models import Voucher


def payable_accounts(currency: str | None = None) -> QuerySet[Account]:
    """The platform's merchant accounts a voucher holder may pay on the portal: active, in the
    deployment's currency, by name."""
    return Account.objects.filter(
        kind=Account.Kind.MERCHANT,
        status=Account.Status.ACTIVE,
        currency=currency or settings.PLATFORM_CURRENCY,
    ).order_by("name", "id")


def payable_account(account_id) -> Account | None:
    try:
        pk = int(account_id)
    except (TypeError, ValueError):
        return None
    return payable_accounts().filter(pk=pk).first()


def open_total(currency: str) -> int:
    from django.db.models import Sum

    return (
        Voucher.objects.filter(state=Voucher.State.ISSUED, currency=currency).aggregate(
            total=Sum("face_value")
        )["total"]
        or 0
    )
