"""Templates ("obrasci"): a customer saves the details of a payment and reuses them, by hand or
as an automatic payment (wallet/autopay.py).

What a template pays is its `kind`. The wallet knows "p2p"; other apps add kinds with
`register_kind(PaymentKind(...))` in their AppConfig.ready, e.g. merchants/ for bill payments:

    register_kind(PaymentKind(
        code="bill", label="Bill payment",
        clean=clean_bill_template,       # (owner=, payee_phone=, details=) -> (payee_phone, details)
        pay=pay_bill_preauthorised,      # (schedule=, amount=, reference=) -> transfers.Executed
        amount_due=amount_on_the_bill,   # (schedule=, due_on=) -> int: for "up to a cap" schedules
        describe=lambda t: t.details["biller_name"],
        use_url=lambda t: f"/bills/{t.details['biller_id']}/?template={t.pk}",
    ))

`describe` names the payee wherever templates and automatic payments are listed; `use_url` is
the page that pays a template by hand, filled in from it.

`pay` runs inside the automatic payment's savepoint, without a PIN (the customer authorised the
schedule once), must post exactly one ledger entry with `reference` and raise a DomainError to
refuse; `reference` is the same for both attempts of a period, so a period is never paid twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from . import transfers
from .models import PaymentTemplate, User
from .operations import InvalidOperationInput

MAX_TEMPLATES = 100


@dataclass(frozen=True)
class PaymentKind:
    code: str
    label: str
    clean: Callable[..., tuple[str, dict]]
    pay: Callable[..., transfers.Executed]
    amount_due: Callable[..., int] | None = None
    describe: Callable[[Any], str] = str
    use_url: Callable[[Any], str] | None = None


_kinds: dict[str, PaymentKind] = {}


def register_kind(kind: PaymentKind) -> None:
    _kinds[kind.code] = kind


def kind_of(code: str) -> PaymentKind:
    try:
        return _kinds[code]
    except KeyError:
        raise InvalidOperationInput(fields={"kind": [f"Unknown kind of payment {code!r}."]}) from None


def kinds() -> dict[str, PaymentKind]:
    return dict(_kinds)


def payee_of(obj) -> str:
    """Who or what a template or automatic payment pays, as its kind describes it."""
    kind = _kinds.get(obj.kind)
    return kind.describe(obj) if kind is not None else str(obj.payee_phone or obj.kind)


def use_url_of(template) -> str:
    """The page that pays `template` by hand, or "" if its kind has none."""
    kind = _kinds.get(template.kind)
    return kind.use_url(template) if kind is not None and kind.use_url is not None else ""


# --- the wallet's own kind: a P2P transfer ------------------------------------------------------------


def _clean_p2p(*, owner: User, payee_phone, details: dict) -> tuple[str, dict]:
    phone = transfers.clean_payee_phone(payee_phone)
    if phone == str(owner.phone):
        raise InvalidOperationInput(fields={"payee_phone": ["This is your own wallet."]})
    if details:
        raise InvalidOperationInput(fields={"details": ["A transfer needs no other details."]})
    return phone, {}


def _pay_p2p(*, schedule, amount: int, reference: str) -> transfers.Executed:
    return transfers.pay_scheduled(
        payer=schedule.owner,
        payee_phone=schedule.payee_phone,
        amount=amount,
        currency=schedule.currency,
        message=schedule.message,
        reference=reference,
    )


register_kind(
    PaymentKind(
        code="p2p",
        label="Transfer to a wallet",
        clean=_clean_p2p,
        pay=_pay_p2p,
        describe=lambda obj: str(obj.payee_phone),
        use_url=lambda template: f"{reverse('wallet:transfer')}?template={template.pk}",
    )
)


# --- templates ------------------------------------------------------------------------------------------


def _clean_name(name) -> str:
    text = " ".join(str(name or "").split())
    if not text:
        raise InvalidOperationInput(fields={"name": ["Give the template a name."]})
    if len(text) > 80:
        raise InvalidOperationInput(fields={"name": ["At most 80 characters."]})
    return text


def save_template(
    *,
    owner: User,
    name,
    kind: str = "p2p",
    payee_phone="",
    amount: int | None = None,
    message: str = "",
    details: dict | None = None,
    template_id: int | None = None,
) -> PaymentTemplate:
    """Creates a template, or changes the owner's template `template_id`."""
    name = _clean_name(name)
    payment_kind = kind_of(kind)
    if details is not None and not isinstance(details, dict):
        raise InvalidOperationInput(fields={"details": ["Details are a JSON object."]})
    phone, details = payment_kind.clean(owner=owner, payee_phone=payee_phone, details=details or {})
    if amount is not None:
        transfers.check_amount(amount)
    message = transfers.clean_message(message)
    fields = {
        "name": name,
        "kind": kind,
        "payee_phone": phone,
        "amount": amount,
        "message": message,
        "details": details,
        "updated_at": timezone.now(),
    }
    try:
        with transaction.atomic():
            if template_id is None:
                if PaymentTemplate.objects.filter(owner=owner).count() >= MAX_TEMPLATES:
                    raise InvalidOperationInput(f"At most {MAX_TEMPLATES} templates.")
                return PaymentTemplate.objects.create(owner=owner, **fields)
            template = template_of(owner, template_id)
            for field, value in fields.items():
                setattr(template, field, value)
            template.save(update_fields=list(fields))
            return template
    except IntegrityError:
        raise InvalidOperationInput(
            fields={"name": ["You already have a template with this name."]}
        ) from None


def template_of(owner: User, template_id) -> PaymentTemplate:
    template = PaymentTemplate.objects.filter(owner=owner, pk=template_id).first()
    if template is None:
        raise Http404("no such template")
    return template


def delete_template(*, owner: User, template_id) -> None:
    """Automatic payments made from it keep running: they hold their own copy of the details."""
    template_of(owner, template_id).delete()


def templates_of(owner: User):
    return PaymentTemplate.objects.filter(owner=owner).order_by("name")
