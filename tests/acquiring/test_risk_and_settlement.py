"""Risk limits per merchant, the wallet top-up by card, and end of day: the figures, the ledger,
once only, and nothing half-done after a crash."""

from datetime import date, timedelta

import pytest
from django.core.management import call_command

from acquiring import services
from acquiring.models import CardTransaction, RiskAlert, SettlementBatch, SettlementLine
from notifications.models import Notification
from tests.factories import active_customer, publish_tariff, wallet_of
from wallet import ledger
from wallet import services as wallet_services
from wallet.models import Entry

from .helpers import DECLINE, books_problems, capture, create, make_merchant, new_paid, pay, refund

pytestmark = pytest.mark.django_db(transaction=True)
Status = CardTransaction.Status


def balance(code):
    return ledger.balance(wallet_services.system_account_id(code, "RSD"))


def limits(merchant, **values):
    profile = services.risk_profile(merchant)
    for name, value in values.items():
        setattr(profile, name, value)
    profile.save()
    return profile


# --- risk -------------------------------------------------------------------------------------


def test_amounts_outside_the_merchants_minimum_and_maximum_are_refused_at_creation():
    merchant, shop = make_merchant()
    limits(merchant, min_amount=1_000, max_amount=500_000)
    small, large, fine = create(shop, amount=999), create(shop, amount=500_001), create(shop, amount=500_000)
    assert small.status_code == large.status_code == 422 and small.json()["error"]["code"] == "risk_limit"
    assert fine.status_code == 201


def test_beyond_the_daily_threshold_payments_are_blocked_and_staff_alerted():
    merchant, shop = make_merchant()
    limits(merchant, daily_count=2, block_percent=150)  # expected 2 a day, blocked beyond 3
    outcomes = [new_paid(shop, "DB", 10_000)[1] for _ in range(3)]
    assert [t.status for t in outcomes] == [Status.CAPTURED, Status.CAPTURED, Status.AUTHORIZED]
    assert outcomes[2].review == "held"  # the third is unusual: held for review, not captured

    created = create(shop, "DB", 10_000)
    with pytest.raises(services.MerchantBlocked):
        pay(created.json()["id"])

    fourth = CardTransaction.objects.get(public_id=created.json()["id"])
    assert fourth.status == Status.DECLINED and fourth.response_code == "R1"
    assert RiskAlert.objects.filter(merchant=merchant).count() == 1
    alert = Notification.objects.get(template="card_risk_alert")
    assert alert.to_email == "risk@localhost" and merchant.legal_name in alert.body
    blocked = create(shop, "DB", 10_000)
    assert blocked.status_code == 422 and blocked.json()["error"]["code"] == "merchant_blocked"

    services.unblock_merchant(merchant=merchant)
    assert create(shop, "DB", 10_000).status_code == 201


def test_beyond_the_daily_amount_threshold_payments_are_blocked():
    merchant, shop = make_merchant()
    limits(merchant, daily_amount=100_000, block_percent=100)
    assert new_paid(shop, "DB", 100_000)[1].status == Status.CAPTURED
    created = create(shop, "DB", 1_000)
    with pytest.raises(services.MerchantBlocked):
        pay(created.json()["id"])
    assert services.risk_profile(merchant).blocked_at is not None


def test_a_large_preauthorization_is_held_and_cannot_be_captured_until_staff_approve():
    m, shop = make_merchant("Big Shop")
    limits(m, review_above=500_000)
    public_id, txn = new_paid(shop, "PA", 600_000)
    assert txn.status == Status.AUTHORIZED and txn.review == "held"

    held = capture(shop, public_id)
    assert held.status_code == 409 and held.json()["error"]["code"] == "held_for_review"

    services.approve_review(public_id=public_id)
    assert capture(shop, public_id).json()["status"] == "captured"


def test_a_held_debit_is_captured_when_staff_approve_and_reversed_when_they_reject():
    m, shop = make_merchant()
    limits(m, review_above=500_000)
    approved_id, _ = new_paid(shop, "DB", 600_000)
    rejected_id, _ = new_paid(shop, "DB", 700_000)

    services.approve_review(public_id=approved_id)
    services.reject_review(public_id=rejected_id)

    assert CardTransaction.objects.get(public_id=approved_id).status == Status.CAPTURED
    assert CardTransaction.objects.get(public_id=rejected_id).status == Status.REVERSED
    assert balance("card_merchant_payable") == 600_000


# --- wallet top-up by card ----------------------------------------------------------------------------


def test_a_card_top_up_credits_the_customers_wallet_through_card_clearing():
    user = active_customer()
    txn = services.create_wallet_topup(user=user, amount=150_000)
    txn = pay(txn.public_id)
    assert txn.status == Status.CAPTURED
    assert ledger.balance(wallet_of(user)) == 150_000 and balance("card_clearing") == -150_000
    assert Notification.objects.filter(template="card_receipt", user=user).exists()
    assert books_problems() == []


def test_a_declined_top_up_credits_nothing():
    user = active_customer()
    txn = pay(services.create_wallet_topup(user=user, amount=150_000).public_id, DECLINE)
    assert txn.status == Status.DECLINED and ledger.balance(wallet_of(user)) == 0


def test_the_top_up_page_sends_the_customer_to_the_card_page(client):
    user = active_customer()
    client.force_login(user)
    answer = client.post("/card/topup/", {"amount": "250.00"})
    txn = CardTransaction.objects.get(topup_user=user)
    assert answer.status_code == 302 and answer["Location"] == f"/card/pay/{txn.public_id}/"
    assert txn.amount == 25_000
    assert client.post("/card/topup/", {"amount": "abc"}).status_code == 200


# --- end of day ------------------------------------------------------------------------------------


def _day(shop, merchant):
    publish_tariff(services.service_code(merchant), fixed_fee=2_000, percent_bp=150, bearer="payee")
    debit, _ = new_paid(shop, "DB", 1_000_000)
    pa, _ = new_paid(shop, "PA", 1_000_000)
    capture(shop, pa, 600_000)
    refund(shop, debit, 100_000)
    new_paid(shop, "PA", 50_000)  # authorized only: not settled
    return debit, pa


def test_end_of_day_settles_gross_refunds_commission_parts_and_net_per_merchant():
    merchant, shop = make_merchant()
    other, other_shop = make_merchant("Gigatron d.o.o.")
    _day(shop, merchant)
    new_paid(other_shop, "DB", 300_000)

    (batch,) = services.end_of_day(business_date=date(2026, 5, 4))

    line = SettlementLine.objects.get(batch=batch, merchant=merchant)
    assert (line.capture_count, line.gross, line.refund_count, line.refunds) == (2, 1_600_000, 1, 100_000)
    assert (line.commission_fixed, line.commission_percent) == (4_000, 15_000 + 9_000)
    assert line.net == 1_600_000 - 100_000 - 4_000 - 24_000
    other_line = SettlementLine.objects.get(batch=batch, merchant=other)
    assert (other_line.gross, other_line.commission_fixed, other_line.net) == (300_000, 0, 300_000)
    assert balance("card_merchant_payable") == 0
    assert balance("fee_revenue") == 28_000
    assert balance("payout_clearing") == line.net + other_line.net
    assert Entry.objects.get(pk=batch.payout_entry_id).kind == "card_settlement"
    assert books_problems() == []


def test_a_second_end_of_day_for_the_same_date_changes_nothing():
    merchant, shop = make_merchant()
    _day(shop, merchant)
    (first,) = services.end_of_day(business_date=date(2026, 5, 4))
    new_paid(shop, "DB", 5_000)  # after the first run

    (again,) = services.end_of_day(business_date=date(2026, 5, 4))

    assert again.pk == first.pk and SettlementBatch.objects.count() == 1
    assert Entry.objects.filter(kind__in=["card_settlement", "card_commission"]).count() == 2
    assert balance("card_merchant_payable") == 5_000  # waits for the next day
    (next_day,) = services.end_of_day(business_date=date(2026, 5, 5))
    assert next_day.previous_id == first.pk and next_day.lines.get().gross == 5_000
    assert books_problems() == []


def test_a_crash_in_the_middle_of_end_of_day_leaves_no_partial_batch(monkeypatch):
    merchant, shop = make_merchant()
    _day(shop, merchant)
    real_post = ledger.post

    def crash_on_payout(**kwargs):
        if kwargs["kind"] == "card_settlement":
            raise RuntimeError("power cut")
        return real_post(**kwargs)

    monkeypatch.setattr(services.ledger, "post", crash_on_payout)
    with pytest.raises(RuntimeError):
        services.end_of_day(business_date=date(2026, 5, 4))

    assert SettlementBatch.objects.count() == 0 and SettlementLine.objects.count() == 0
    assert Entry.objects.filter(kind="card_commission").count() == 0
    monkeypatch.setattr(services.ledger, "post", real_post)
    (batch,) = services.end_of_day(business_date=date(2026, 5, 4))
    assert batch.lines.get().net == 1_472_000
    assert books_problems() == []


def test_a_refund_of_an_already_settled_capture_is_netted_in_the_next_batch():
    merchant, shop = make_merchant()
    debit, _ = new_paid(shop, "DB", 100_000)
    services.end_of_day(business_date=date(2026, 5, 4))
    refund(shop, debit, 100_000)
    (batch,) = services.end_of_day(business_date=date(2026, 5, 5))
    assert batch.lines.get().net == -100_000  # the merchant owes it: collected from its payout account
    assert balance("card_merchant_payable") == 0 and books_problems() == []


def test_the_management_command_runs_end_of_day(capsys):
    merchant, shop = make_merchant()
    new_paid(shop, "DB", 70_000)
    call_command("end_of_day", "--date", "2026-05-04")
    assert "gross 70000" in capsys.readouterr().out
    call_command("end_of_day", "--date", "2026-05-04")
    assert SettlementBatch.objects.count() == 1


def test_the_merchant_page_and_csv_show_the_settlement(client):
    merchant, shop = make_merchant()
    _day(shop, merchant)
    services.end_of_day(business_date=date(2026, 5, 4))
    user = active_customer()
    from merchants import services as merchant_services

    merchant_services.add_member(merchant=merchant, user=user)
    client.force_login(user)
    page = client.get("/card/merchant/settlements/").content.decode()
    assert "14.720,00" in page or "14,720.00" in page
    rows = client.get("/card/merchant/settlements/?format=csv").content.decode().splitlines()
    assert rows[1].split(",")[-1] == "1472000" and rows[1].split(",")[-3:-1] == ["24000", "28000"]


def test_staff_see_the_settlement_report_and_its_csv(client):
    merchant, shop = make_merchant()
    _day(shop, merchant)
    (batch,) = services.end_of_day(business_date=date(2026, 5, 4))
    client.force_login(active_customer(is_staff=True))
    page = client.get(f"/card/staff/settlements/{batch.pk}/")
    assert page.status_code == 200 and merchant.legal_name in page.content.decode()
    csv_rows = client.get(f"/card/staff/settlements/{batch.pk}/?format=csv").content.decode().splitlines()
    assert csv_rows[1].endswith(",1472000")


def test_customers_cannot_see_the_staff_settlement_report(client):
    merchant, shop = make_merchant()
    new_paid(shop, "DB", 10_000)
    (batch,) = services.end_of_day(business_date=date(2026, 5, 4))
    client.force_login(active_customer())
    assert client.get(f"/card/staff/settlements/{batch.pk}/").status_code == 302


def test_the_settlement_windows_stay_contiguous_across_many_days():
    merchant, shop = make_merchant()
    for day in range(3):
        new_paid(shop, "DB", 10_000 + day)
        services.end_of_day(business_date=date(2026, 5, 4) + timedelta(days=day))
    batches = list(SettlementBatch.objects.order_by("business_date"))
    assert [b.lines.get().gross for b in batches] == [10_000, 10_001, 10_002]
    assert books_problems() == []
