"""Expired vouchers go back to the operator with a ledger entry (periodic job and command);
staff can cancel an unused voucher; check_ledger proves the liability equals the open vouchers."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from vouchers import errors, services
from vouchers.models import Voucher
from wallet import ledger
from wallet import services as wallet_services
from wallet.models import Entry, User

pytestmark = pytest.mark.django_db(transaction=True)


def liability() -> int:
    return ledger.balance(wallet_services.system_account_id("voucher_liability"))


def expired_fields(days_ago=1):
    now = timezone.now()
    return {
        "issued_at": now - timezone.timedelta(days=400),
        "expires_at": now - timezone.timedelta(days=days_ago),
    }


def test_the_expiry_job_returns_each_expired_voucher_to_the_operator_with_an_entry(issue):
    expired_a, _ = issue(50_000, **expired_fields())
    expired_b, _ = issue(3_700, kind=Voucher.Kind.CHANGE, **expired_fields(days_ago=30))
    fresh, _ = issue(100_000)
    operator = wallet_services.system_account_id("fee_revenue")

    assert services.expire_due() == 2

    assert Voucher.objects.get(pk=expired_a.pk).state == "expired"
    assert Voucher.objects.get(pk=expired_b.pk).state == "expired"
    assert Voucher.objects.get(pk=fresh.pk).state == "issued"
    assert liability() == 100_000 and ledger.balance(operator) == 53_700
    entries = Entry.objects.filter(kind="voucher_expiry")
    assert {e.reference for e in entries} == {
        f"voucher:{expired_a.pk}:settle",
        f"voucher:{expired_b.pk}:settle",
    }
    assert services.expire_due() == 0  # a second run changes nothing
    call_command("check_ledger")


def test_the_expire_vouchers_command_does_the_same(issue, capsys):
    issue(50_000, **expired_fields())
    call_command("expire_vouchers")
    assert "1 voucher(s) expired" in capsys.readouterr().out
    assert liability() == 0


def test_an_expired_voucher_cannot_be_redeemed_after_the_job_either(issue):
    from tests.vouchers.conftest import customer

    _, code = issue(50_000, **expired_fields())
    services.expire_due()
    user, wallet = customer()
    with pytest.raises(errors.VoucherExpired):
        services.redeem(user=user, code=code)
    assert ledger.balance(wallet) == 0


def test_staff_cancel_an_unused_voucher_and_its_value_goes_back_to_the_agent(issue, agent):
    voucher, code = issue(100_000)
    staff = User.objects.create_superuser("+381600009998", "staff-Pass-42", first_name="S", last_name="T")

    services.void(voucher=voucher, staff_user=staff, reason="receipt never handed over")

    voucher.refresh_from_db()
    assert voucher.state == "void" and voucher.settled_to_id == agent.account_id
    assert ledger.balance(agent.account) == 0 and liability() == 0
    entry = Entry.objects.get(kind="voucher_void")
    assert entry.reverses_id == voucher.issue_entry_id and entry.created_by == staff
    with pytest.raises(errors.VoucherVoid):
        services.consume_for_payment(code=code, account_id=agent.account_id, reference="x")
    call_command("check_ledger")


def test_check_ledger_fails_when_the_liability_and_the_open_vouchers_disagree(issue):
    voucher, _ = issue(50_000)
    call_command("check_ledger")
    with connection.cursor() as cursor:  # what a bug writing vouchers directly would do
        cursor.execute("UPDATE vouchers_voucher SET face_value = face_value + 1 WHERE id = %s", [voucher.pk])

    with pytest.raises(CommandError):
        call_command("check_ledger")
    from wallet.integrity import run_checks

    problems = run_checks()
    assert problems["voucher liability equals open vouchers"] == [
        "voucher liability RSD: the account holds 50000 but open vouchers sum to 50001"
    ]
    assert problems["vouchers agree with their entries"]


def test_forgotten_receipt_seeds_leave_only_the_hash_and_the_last_four_digits(issue):
    voucher, code = issue(50_000)
    later = timezone.now() + timezone.timedelta(hours=25)
    assert services.forget_receipt_seeds(now=later) == 1
    voucher.refresh_from_db()
    assert voucher.receipt_seed == "" and services.receipt_code(voucher) is None
    assert code not in str(list(Voucher.objects.values()))
    assert services.find(code).pk == voucher.pk  # still found by its keyed hash
