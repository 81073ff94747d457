"""Ledger corrections with four eyes: one staff member proposes, another approves.

A correction never edits an entry or a posting. Approval posts one new entry through
ledger.post (kind "correction", reference "correction:<id>", created_by = the approver,
reverses = the reversed entry for a reversal); rejection posts nothing. Each step writes an
audit row in the same transaction.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from config.errors import DomainError

from . import audit, ledger
from .models import Account, Correction, Entry, User

KIND = "correction"


class CorrectionError(DomainError):
    code = "correction_refused"
    status = 422
    message = "This correction cannot be made."


class FourEyesViolation(CorrectionError):
    code = "four_eyes"
    status = 403
    message = "A correction is approved by someone other than the person who proposed it."


class NotAllowed(CorrectionError):
    code = "forbidden"
    status = 403
    message = "You may not do this."


def _require(staff: User, permission: str) -> None:
    if not (staff.is_active and staff.is_staff and staff.has_perm(permission)):
        raise NotAllowed(f"This needs the permission {permission}.")


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise CorrectionError(fields={"reason": ["Say why, in a few words (5 characters or more)."]})
    return reason


@transaction.atomic
def propose_adjustment(
    *, staff: User, debit_account: Account, credit_account: Account, amount: int, reason: str, request=None
) -> Correction:
    """Moves `amount` from debit_account (-amount) to credit_account (+amount) once approved."""
    _require(staff, "wallet.add_correction")
    reason = _reason(reason)
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0 or amount > ledger.MAX_AMOUNT:
        raise CorrectionError(fields={"amount": ["A positive amount in minor units."]})
    if debit_account.pk == credit_account.pk:
        raise CorrectionError(fields={"credit_account": ["Debit and credit accounts must differ."]})
    if debit_account.currency != credit_account.currency:
        raise CorrectionError(fields={"credit_account": ["Both accounts must have the same currency."]})
    correction = Correction.objects.create(
        kind=Correction.Kind.ADJUSTMENT,
        currency=debit_account.currency,
        debit_account=debit_account,
        credit_account=credit_account,
        amount=amount,
        reason=reason,
        proposed_by=staff,
    )
    audit.record(
        actor=staff,
        action="correction.propose",
        obj=correction,
        after=audit.snapshot(correction),
        reason=reason,
        request=request,
    )
    return correction


@transaction.atomic
def propose_reversal(*, staff: User, entry: Entry, reason: str, request=None) -> Correction:
    """Reverses every posting of `entry` once approved."""
    _require(staff, "wallet.add_correction")
    reason = _reason(reason)
    if Entry.objects.filter(reverses=entry).exists():
        raise CorrectionError(fields={"reverses": [f"Entry {entry.pk} has been reversed already."]})
    if Correction.objects.filter(reverses=entry).exclude(status=Correction.Status.REJECTED).exists():
        raise CorrectionError(fields={"reverses": [f"A reversal of entry {entry.pk} is proposed already."]})
    correction = Correction.objects.create(
        kind=Correction.Kind.REVERSAL,
        currency=entry.currency,
        reverses=entry,
        reason=reason,
        proposed_by=staff,
    )
    audit.record(
        actor=staff,
        action="correction.propose",
        obj=correction,
        after=audit.snapshot(correction),
        reason=reason,
        request=request,
    )
    return correction


def legs_of(correction: Correction) -> list[tuple[int, int]]:
    if correction.kind == Correction.Kind.REVERSAL:
        return [
            (account, -amount)
            for account, amount in correction.reverses.postings.values_list("account_id", "amount")
        ]
    return [
        (correction.debit_account_id, -correction.amount),
        (correction.credit_account_id, correction.amount),
    ]


def _locked_proposal(correction_id: int) -> Correction:
    correction = Correction.objects.select_for_update().filter(pk=correction_id).first()
    if correction is None:
        raise CorrectionError("No such correction.")
    if correction.status != Correction.Status.PROPOSED:
        raise CorrectionError(f"This correction is {correction.status} already.")
    return correction


@transaction.atomic(durable=True)
def approve(*, correction_id: int, staff: User, request=None) -> Correction:
    """The second person approves: one new ledger entry, or an error and nothing changes."""
    _require(staff, "wallet.approve_correction")
    correction = _locked_proposal(correction_id)
    if correction.proposed_by_id == staff.pk:
        raise FourEyesViolation()
    before = audit.snapshot(correction)
    memo = f"correction #{correction.pk}: {correction.reason}"
    posted = ledger.post(
        kind=KIND,
        reference=f"correction:{correction.pk}",
        currency=correction.currency,
        legs=legs_of(correction),
        memo=memo,
        created_by_id=staff.pk,
        reverses_id=correction.reverses_id,
        enforce_limits=False,  # staff put the books right; a wallet still never goes below zero
    )
    now = timezone.now()
    correction.status = Correction.Status.APPROVED
    correction.decided_by = staff
    correction.decided_at = now
    correction.entry_id = posted.entry_id
    correction.save(update_fields=["status", "decided_by", "decided_at", "entry"])
    audit.record(
        actor=staff,
        action="correction.approve",
        obj=correction,
        before=before,
        after=audit.snapshot(correction),
        reason=correction.reason,
        request=request,
    )
    return correction


@transaction.atomic
def reject(*, correction_id: int, staff: User, reason: str, request=None) -> Correction:
    """Refuses a proposal (the proposer may withdraw their own); nothing is posted."""
    _require(staff, "wallet.approve_correction")
    reason = _reason(reason)
    correction = _locked_proposal(correction_id)
    before = audit.snapshot(correction)
    correction.status = Correction.Status.REJECTED
    correction.decided_by = staff
    correction.decided_at = timezone.now()
    correction.decision_reason = reason
    correction.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    audit.record(
        actor=staff,
        action="correction.reject",
        obj=correction,
        before=before,
        after=audit.snapshot(correction),
        reason=reason,
        request=request,
    )
    return correction
