"""Corrections with four eyes: proposed by one person, approved by another finance person; the
ledger gets one new entry and nothing is edited."""

import pytest
from django.db import IntegrityError
from django.urls import reverse

from tests.factories import active_customer, fund, wallet_of
from wallet import corrections, ledger, services
from wallet.models import AuditLog, Correction, Entry, Posting

pytestmark = pytest.mark.django_db(transaction=True)  # approve() is a durable money path


def test_nobody_approves_their_own_correction(staff_in):
    alice, bob = staff_in("finance"), staff_in("finance")
    wallet = wallet_of(active_customer(balance=10_000))
    suspense = services.system_account("suspense")
    proposal = corrections.propose_adjustment(
        staff=alice,
        debit_account=suspense,
        credit_account=wallet,
        amount=2_500,
        reason="missed cash top-up #77",
    )
    with pytest.raises(corrections.FourEyesViolation):
        corrections.approve(correction_id=proposal.pk, staff=alice)
    assert Correction.objects.get(pk=proposal.pk).status == Correction.Status.PROPOSED
    assert not Entry.objects.filter(kind="correction").exists()

    done = corrections.approve(correction_id=proposal.pk, staff=bob)
    entry = Entry.objects.get(pk=done.entry_id)
    assert (entry.kind, entry.created_by_id, entry.reference) == (
        "correction",
        bob.pk,
        f"correction:{proposal.pk}",
    )
    assert ledger.balance(wallet) == 12_500
    assert {(p.account_id, p.amount) for p in entry.postings.all()} == {
        (suspense.pk, -2_500),
        (wallet.pk, 2_500),
    }
    with pytest.raises(corrections.CorrectionError):
        corrections.approve(correction_id=proposal.pk, staff=bob)  # once only
    assert [r.action for r in AuditLog.objects.filter(object_type="wallet.correction").order_by("id")] == [
        "correction.propose",
        "correction.approve",
    ]


def test_the_database_refuses_a_self_approved_correction_too(staff_in):
    alice = staff_in("finance")
    wallet = wallet_of(active_customer())
    proposal = corrections.propose_adjustment(
        staff=alice,
        debit_account=services.system_account("suspense"),
        credit_account=wallet,
        amount=1,
        reason="test one",
    )
    entry = fund(wallet, 5).entry_id
    with pytest.raises(IntegrityError):
        Correction.objects.filter(pk=proposal.pk).update(status="approved", decided_by=alice, entry_id=entry)


def test_a_reversal_posts_the_negated_legs_with_reverses_and_the_original_stays(staff_in):
    alice, bob = staff_in("finance"), staff_in("finance")
    wallet = wallet_of(active_customer())
    original = fund(wallet, 7_000).entry_id
    legs_before = sorted(Posting.objects.filter(entry_id=original).values_list("account_id", "amount"))
    proposal = corrections.propose_reversal(
        staff=alice, entry=Entry.objects.get(pk=original), reason="posted twice"
    )
    with pytest.raises(corrections.CorrectionError):
        corrections.propose_reversal(
            staff=bob, entry=Entry.objects.get(pk=original), reason="posted twice again"
        )
    done = corrections.approve(correction_id=proposal.pk, staff=bob)
    reversal = Entry.objects.get(pk=done.entry_id)
    assert reversal.reverses_id == original and reversal.created_by_id == bob.pk
    assert sorted((a, -n) for a, n in reversal.postings.values_list("account_id", "amount")) == legs_before
    assert (
        sorted(Posting.objects.filter(entry_id=original).values_list("account_id", "amount")) == legs_before
    )
    assert ledger.balance(wallet) == 0


def test_a_rejection_posts_nothing_and_needs_a_reason(staff_in):
    alice, bob = staff_in("finance"), staff_in("finance")
    wallet = wallet_of(active_customer())
    proposal = corrections.propose_adjustment(
        staff=alice,
        debit_account=services.system_account("suspense"),
        credit_account=wallet,
        amount=10,
        reason="maybe",
    )
    with pytest.raises(corrections.CorrectionError):
        corrections.reject(correction_id=proposal.pk, staff=bob, reason="")
    corrections.reject(correction_id=proposal.pk, staff=bob, reason="no evidence of the payment")
    rejected = Correction.objects.get(pk=proposal.pk)
    assert (rejected.status, rejected.entry_id, rejected.decided_by_id) == ("rejected", None, bob.pk)
    assert not Entry.objects.filter(kind="correction").exists()


def test_only_finance_proposes_and_approves(staff_in):
    support = staff_in("support")
    wallet = wallet_of(active_customer())
    with pytest.raises(corrections.NotAllowed):
        corrections.propose_adjustment(
            staff=support, debit_account=services.system_account("suspense"), credit_account=wallet, amount=1,
            reason="not my job",
        )  # fmt: skip


def test_in_the_admin_the_proposer_cannot_approve_and_a_second_person_can(client, staff_in):
    alice, bob = staff_in("finance"), staff_in("finance")
    wallet = wallet_of(active_customer())
    suspense = services.system_account("suspense")
    client.force_login(alice)
    response = client.post(
        reverse("admin:wallet_correction_add"),
        {"kind": "adjustment", "debit_account": suspense.pk, "credit_account": wallet.pk, "amount": 900,
         "reason": "terminal T-9 top-up lost"},
    )  # fmt: skip
    assert response.status_code == 302
    proposal = Correction.objects.get()
    assert proposal.proposed_by_id == alice.pk
    changelist = reverse("admin:wallet_correction_changelist")
    client.post(changelist, {"action": "approve", "_selected_action": [proposal.pk]}, follow=True)
    assert Correction.objects.get().status == "proposed"
    client.logout()
    client.force_login(bob)
    client.post(changelist, {"action": "approve", "_selected_action": [proposal.pk]})
    assert Correction.objects.get().status == "approved"
    assert ledger.balance(wallet) == 900
