"""The processor interface and its one built-in implementation, a simulated issuer.

The gateway (acquiring.services) talks to a processor only through `Processor`: a real one (an
ISO 8583 or REST link to the bank) is a class with the same methods named in
settings.ACQUIRING_PROCESSOR. Every call names the gateway's own reference (the transaction's
public id), so a call repeated after a timeout finds the first one instead of doubling it, and
`query` tells what the issuer did with a reference when an answer was lost.

Test cards of the simulator (docs/card-gateway.md): see TEST_CARDS.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from .cards import CardData

APPROVED, DECLINED, INSUFFICIENT_FUNDS, THREEDS_REQUIRED, NOT_FOUND = (
    "approved",
    "declined",
    "insufficient_funds",
    "3ds_required",
    "not_found",
)
RESPONSE_CODES = {
    APPROVED: "00",
    DECLINED: "05",  # do not honour
    INSUFFICIENT_FUNDS: "51",
    THREEDS_REQUIRED: "1A",  # strong customer authentication required
    NOT_FOUND: "25",
    "expired_card": "54",
}


class ProcessorTimeout(Exception):
    """The processor did not answer in time: what happened at the issuer is unknown."""


@dataclass(frozen=True)
class Result:
    outcome: str
    response_code: str
    bank_transaction_id: str = ""
    approval_code: str = ""
    rrn: str = ""
    token: str = ""
    threeds_reference: str = ""
    amount: int = 0
    captured: bool = False

    @property
    def approved(self) -> bool:
        return self.outcome == APPROVED


class Processor(Protocol):
    name: str

    def authorize(
        self, *, reference: str, card: CardData, amount: int, currency: str, capture: bool
    ) -> Result: ...

    def complete_3ds(self, *, reference: str, code: str) -> Result: ...

    def capture(self, *, reference: str, amount: int) -> Result: ...

    def reverse(self, *, reference: str) -> Result: ...

    def refund(self, *, reference: str, refund_reference: str, amount: int) -> Result: ...

    def query(self, *, reference: str) -> Result: ...


# number -> (outcome, then after 3-D Secure, brand label for the docs)
TEST_CARDS = {
    "4111111111111111": (APPROVED, "", "Visa: approved"),
    "5555555555554444": (APPROVED, "", "Mastercard: approved"),
    "6759649826438453": (APPROVED, "", "Maestro: approved"),
    "4000000000000002": (DECLINED, "", "Visa: declined (05)"),
    "4000000000009995": (INSUFFICIENT_FUNDS, "", "Visa: insufficient funds (51)"),
    "4000000000003220": (THREEDS_REQUIRED, APPROVED, "Visa: 3-D Secure, then approved"),
    "5200000000001096": (THREEDS_REQUIRED, APPROVED, "Mastercard: 3-D Secure, then approved"),
    "6761000000000006": (
        THREEDS_REQUIRED,
        INSUFFICIENT_FUNDS,
        "Maestro: 3-D Secure, then insufficient funds",
    ),
    "4000000000000119": ("timeout", APPROVED, "Visa: the issuer approves but the answer times out"),
}
THREEDS_CODE = "1234"  # the one-time code the simulated 3-D Secure page accepts


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


class SimulatedIssuer:
    """Decides by the test card number, keeps its books in SimulatedIssuerRecord (never the number)."""

    name = "simulator"

    def _result(self, record, outcome=None) -> Result:
        from .models import SimulatedIssuerRecord  # noqa: F401

        outcome = outcome or record.outcome
        return Result(
            outcome=outcome,
            response_code=RESPONSE_CODES.get(outcome, "96"),
            bank_transaction_id=record.bank_transaction_id,
            approval_code=record.approval_code if outcome == APPROVED else "",
            rrn=record.rrn,
            token=record.token,
            threeds_reference=record.reference if outcome == THREEDS_REQUIRED else "",
            amount=record.amount,
            captured=record.captured_amount > 0,
        )

    def _record(self, reference: str):
        from .models import SimulatedIssuerRecord

        return SimulatedIssuerRecord.objects.select_for_update().filter(reference=reference).first()

    def authorize(self, *, reference, card, amount, currency, capture) -> Result:
        from .models import SimulatedIssuerRecord

        outcome, then, _label = TEST_CARDS.get(card.number, (APPROVED, "", ""))
        timeout = outcome == "timeout"
        if timeout:
            outcome = then
        with transaction.atomic():
            existing = self._record(reference)
            if existing is None:
                try:
                    with transaction.atomic():
                        existing = SimulatedIssuerRecord.objects.create(
                            reference=reference,
                            token="tok_" + secrets.token_urlsafe(18),
                            amount=amount,
                            currency=currency,
                            outcome=outcome,
                            then_outcome=then if outcome == THREEDS_REQUIRED else "",
                            threeds_code=THREEDS_CODE if outcome == THREEDS_REQUIRED else "",
                            capture_requested=capture,
                            captured_amount=amount if capture and outcome == APPROVED else 0,
                            bank_transaction_id="SIM" + _digits(12),
                            approval_code=_digits(6) if outcome == APPROVED else "",
                            rrn=_digits(12),
                        )
                except IntegrityError:
                    existing = self._record(reference)
        if timeout:
            raise ProcessorTimeout(reference)
        return self._result(existing)

    def complete_3ds(self, *, reference, code) -> Result:
        with transaction.atomic():
            record = self._record(reference)
            if record is None:
                return Result(outcome=NOT_FOUND, response_code=RESPONSE_CODES[NOT_FOUND])
            if record.outcome == THREEDS_REQUIRED:
                record.outcome = record.then_outcome if code == record.threeds_code else DECLINED
                if record.outcome == APPROVED:
                    record.approval_code = _digits(6)
                    if record.capture_requested:
                        record.captured_amount = record.amount
                record.save()
            return self._result(record)

    def capture(self, *, reference, amount) -> Result:
        with transaction.atomic():
            record = self._record(reference)
            if record is None or record.outcome != APPROVED or record.reversed:
                return Result(outcome=DECLINED, response_code="12")
            if record.captured_amount == 0:
                record.captured_amount = amount
                record.save(update_fields=["captured_amount"])
            return self._result(record)

    def reverse(self, *, reference) -> Result:
        with transaction.atomic():
            record = self._record(reference)
            if record is None:
                return Result(outcome=NOT_FOUND, response_code=RESPONSE_CODES[NOT_FOUND])
            if record.captured_amount == 0 and not record.reversed:
                record.reversed = True
                record.save(update_fields=["reversed"])
            return self._result(record, APPROVED if record.reversed else DECLINED)

    def refund(self, *, reference, refund_reference, amount) -> Result:
        with transaction.atomic():
            record = self._record(reference)
            if record is None or record.refunded_amount + amount > record.captured_amount:
                return Result(outcome=DECLINED, response_code="13")
            record.refunded_amount += amount
            record.save(update_fields=["refunded_amount"])
            return Result(
                outcome=APPROVED, response_code="00", bank_transaction_id="SIM" + _digits(12), rrn=_digits(12)
            )

    def query(self, *, reference) -> Result:
        from .models import SimulatedIssuerRecord

        record = SimulatedIssuerRecord.objects.filter(reference=reference).first()
        if record is None:
            return Result(outcome=NOT_FOUND, response_code=RESPONSE_CODES[NOT_FOUND])
        return self._result(record)


def get_processor() -> Processor:
    path = getattr(settings, "ACQUIRING_PROCESSOR", "acquiring.processor.SimulatedIssuer")
    return import_string(path)()
