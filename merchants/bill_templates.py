"""Bill payments as templates ("obrasci") and automatic payments: the "bill" kind of
wallet/payment_templates.py, registered in MerchantsConfig.ready.

A bill template's details are {"biller_id", "biller_name", "fields"}: the biller and its bill
fields, validated like the bill form's. Reused by hand, it fills the bill form; run by
wallet/autopay.py, it creates the bill's payment request (its order id made of the run's
reference) and pays it through merchants.payments.pay_authorised, without a PIN: the customer
authorised the schedule with one at set-up. The money path is the checkout's own.
"""

from __future__ import annotations

from django.urls import reverse

from tariffs import services as tariffs
from wallet import payment_templates, transfers
from wallet.operations import InvalidOperationInput

from . import bills, payments
from .models import Merchant

KIND = "bill"


def _biller_of(details: dict) -> Merchant:
    raw = (details or {}).get("biller_id")
    try:
        biller_id = int(raw)
    except (TypeError, ValueError):
        raise InvalidOperationInput(fields={"details": ["Choose the provider of the bill."]}) from None
    return bills.biller(biller_id)  # NotABiller when it no longer takes bill payments


def clean_bill_template(*, owner, payee_phone, details: dict) -> tuple[str, dict]:
    """(payee_phone, details) of a bill template: the biller and its fields, cleaned."""
    biller = _biller_of(details)
    fields = bills.validate_bill_fields(biller, details.get("fields") or {})
    return "", {"biller_id": biller.pk, "biller_name": biller.legal_name, "fields": fields}


def describe(obj) -> str:
    """What a bill template or schedule pays, for lists and the set-up SMS: "Vodovod 12345678"."""
    details = obj.details or {}
    values = " ".join(str(v) for v in (details.get("fields") or {}).values())
    return f"{details.get('biller_name', '')} {values}".strip()


def use_url(template) -> str:
    """The bill form, filled in from the template."""
    return f"{reverse('merchants:bill', args=[template.details['biller_id']])}?template={template.pk}"


def quote_bill_template(*, details: dict, amount: int) -> tariffs.Quote:
    """The fee of paying `amount` with this template's details, as the checkout prices it."""
    biller = _biller_of(details)
    return bills.quote_bill(biller=biller, amount=amount, fields=details.get("fields") or {})


def pay_bill_preauthorised(*, schedule, amount: int, reference: str) -> transfers.Executed:
    """An automatic payment's run: the bill's payment request, paid without a PIN. Runs in the
    run's savepoint; a refusal raises its DomainError (the run retries once and tells the
    customer). `reference` ("autopay:<schedule>:<period>") is both the request's order id and
    its ledger reference, so one period pays at most once."""
    transfers.check_amount(amount)
    biller = _biller_of(schedule.details)
    if biller.account.currency != schedule.currency:
        raise InvalidOperationInput(fields={"currency": ["The provider takes another currency."]})
    payment = bills.start_bill_payment(
        biller=biller,
        payer=schedule.owner,
        amount=amount,
        fields=(schedule.details or {}).get("fields") or {},
        order_id=reference.replace(":", "-")[:64],
    )
    payment = payments.pay_authorised(payment=payment, payer=schedule.owner, reference=reference)
    return transfers.Executed(
        entry_id=payment.entry_id,
        amount=payment.amount,
        fee=payment.payer_fee,
        tariff_version_id=payment.tariff_version_id,
    )


def register() -> None:
    payment_templates.register_kind(
        payment_templates.PaymentKind(
            code=KIND,
            label="Bill payment",
            clean=clean_bill_template,
            pay=pay_bill_preauthorised,
            describe=describe,
            use_url=use_url,
        )
    )
