"""Bill payments to service providers (billers) over the merchant payment flow.

A biller is an active Merchant with `bill_fields` (what its payment needs: a customer reference,
months, a phone number) and usually a shared tariff plan in `tariff_service` (e.g. `bill:water`).
A bill payment is an ordinary PaymentRequest for the biller, bound to the payer's phone: the
customer pays it on the checkout (/pay/<id>/: fee, total, terms, SMS PIN) and the biller is told by
its webhook like any merchant. There is no second money path.
"""

import re
import uuid
from collections import defaultdict

from config.errors import DomainError
from tariffs import services as tariffs
from wallet.errors import InvalidPhoneNumber
from wallet.phones import normalize_phone

from . import payments
from .models import Merchant, PaymentRequest

FIELD_KINDS = ("text", "digits", "months", "phone")
MAX_TEXT = 64


class InvalidBill(DomainError):
    code = "invalid"
    status = 400
    message = "Some fields of the bill are invalid."


class NotABiller(DomainError):
    code = "not_a_biller"
    status = 404
    message = "This provider does not take bill payments."


def is_biller(merchant: Merchant) -> bool:
    return merchant.status == Merchant.Status.ACTIVE and bool(merchant.bill_fields)


def billers() -> dict[str, list[Merchant]]:
    """The catalogue: active merchants with bill fields, by category (display name), by name."""
    catalogue: dict[str, list[Merchant]] = defaultdict(list)
    rows = (
        Merchant.objects.filter(status=Merchant.Status.ACTIVE)
        .exclude(bill_fields=[])
        .order_by("category", "legal_name")
    )
    for merchant in rows:
        if merchant.bill_fields:
            catalogue[str(merchant.get_category_display())].append(merchant)
    return dict(catalogue)


def biller(merchant_id: int) -> Merchant:
    merchant = Merchant.objects.select_related("account").filter(pk=merchant_id).first()
    if merchant is None or not is_biller(merchant):
        raise NotABiller()
    return merchant


def _field_value(spec: dict, raw) -> object:
    """One field's clean value; raises ValueError with the message for the customer."""
    kind = spec.get("kind", "text")
    text = str(raw if raw is not None else "").strip()
    if kind == "months":
        low, high = int(spec.get("min", 1)), int(spec.get("max", 12))
        if not re.fullmatch(r"\d{1,2}", text) or not low <= int(text) <= high:
            raise ValueError(f"Enter a number of months from {low} to {high}.")
        return int(text)
    if kind == "phone":
        try:
            return normalize_phone(text)
        except InvalidPhoneNumber:
            raise ValueError("Enter a valid phone number.") from None
    if kind == "digits":
        text = text.replace(" ", "")
        if not text.isascii() or not text.isdigit():
            raise ValueError("Enter digits only.")
    if len(text) > MAX_TEXT:
        raise ValueError(f"At most {MAX_TEXT} characters.")
    pattern = spec.get("pattern")
    if pattern and not re.fullmatch(pattern, text):
        raise ValueError(spec.get("pattern_message") or "This is not a valid value for this provider.")
    return text


def validate_bill_fields(biller: Merchant, data) -> dict:
    """The biller's fields from `data` (a dict or QueryDict), cleaned; raises InvalidBill with an
    error per bad field. Fields that the biller does not ask for are ignored."""
    clean, errors = {}, {}
    for spec in biller.bill_fields:
        name = spec["name"]
        raw = data.get(name)
        if raw is None or str(raw).strip() == "":
            if spec.get("required", True):
                errors[name] = ["This field is required."]
            continue
        try:
            clean[name] = _field_value(spec, raw)
        except ValueError as exc:
            errors[name] = [str(exc)]
    if errors:
        raise InvalidBill(fields=errors)
    return clean


def tariff_params(biller: Merchant, fields: dict) -> dict:
    """The fields the tariff prices by (the months of a broadcasting fee)."""
    return {
        spec["name"]: fields[spec["name"]]
        for spec in biller.bill_fields
        if spec.get("kind") == "months" and spec["name"] in fields
    }


def quote_bill(*, biller: Merchant, amount: int, fields: dict) -> tariffs.Quote:
    """The fee preview of a bill, as the checkout will price it."""
    return tariffs.quote(
        service=payments.service_code(biller),
        amount=amount,
        currency=biller.account.currency,
        params=tariff_params(biller, fields) or None,
    )


def _describe(biller: Merchant, fields: dict) -> tuple[str, str]:
    labels = {spec["name"]: spec.get("label", spec["name"]) for spec in biller.bill_fields}
    described = "; ".join(f"{labels[name]}: {value}" for name, value in fields.items())
    reference = next(
        (
            str(fields[s["name"]])
            for s in biller.bill_fields
            if s.get("kind") != "months" and s["name"] in fields
        ),
        "",
    )
    name = f"{biller.legal_name} bill {reference}".strip()
    return name[:200], described[:500]


def start_bill_payment(
    *, biller: Merchant, payer, amount: int, fields: dict, order_id: str | None = None
) -> PaymentRequest:
    """A payment request to the biller for this bill, payable only by `payer` (bound to their
    phone), priced by the biller's tariff with the bill's parameters. Nothing moves until the
    customer confirms it on the checkout with the SMS PIN (or an authorised automatic payment
    pays it, merchants/bill_templates.py, with its own `order_id`: the same one returns the
    same request)."""
    if not is_biller(biller):
        raise NotABiller()
    if not isinstance(amount, int) or amount <= 0:
        raise InvalidBill(fields={"amount": ["Enter an amount above zero."]})
    fields = validate_bill_fields(biller, fields)
    params = tariff_params(biller, fields)
    quote_bill(biller=biller, amount=amount, fields=fields)  # a bill the tariff cannot price stops here
    line_name, description = _describe(biller, fields)
    payment, _created = payments.create_payment(
        merchant=biller,
        order_id=order_id or f"bill-{uuid.uuid4().hex[:12]}",
        amount=amount,
        currency=biller.account.currency,
        lines=[payments.Line(name=line_name, quantity=1, unit_price=amount)],
        description=description,
        customer_phone=str(payer.phone),
        tariff_params=params or None,
    )
    return payment
