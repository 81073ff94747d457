"""The app API's payments (/api/v1/): transfers and withdrawals need an Idempotency-Key and
replay the first answer; bad input answers 4xx in the one error shape, never 500; one customer
never reaches another's operations; the tariff list and the fee preview are public."""

import uuid

import pytest
from rest_framework.test import APIClient

from tariffs import fees
from tariffs.demo import seed_demo_tariffs
from tests.factories import active_customer, pin_sent_to, publish_tariff, wallet_of
from wallet import ledger
from wallet.integrity import run_checks
from wallet.models import Entry, Transfer, Withdrawal

pytestmark = pytest.mark.django_db(transaction=True)

ANA = "+381641140001"
MARKO = "+381641140002"


@pytest.fixture(autouse=True)
def books_stay_clean():
    yield
    assert {name: found for name, found in run_checks().items() if found} == {}


@pytest.fixture
def ana():
    return active_customer(ANA, balance=500_000, first_name="Ana")


@pytest.fixture
def marko():
    return active_customer(MARKO, first_name="Marko", last_name="Marković")


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def post(client, url, body, key="auto"):
    headers = {}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = str(uuid.uuid4()) if key == "auto" else key
    return client.post(url, body, format="json", **headers)


def error_of(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    return body["error"]


def test_a_transfer_over_the_api_shows_the_fee_then_moves_money_with_the_pin(ana, marko):
    version = publish_tariff("p2p", percent_bp=100, min_fee=1_000)
    client = client_for(ana)
    started = post(
        client, "/api/v1/transfers/", {"payee_phone": "064 114 0002", "amount": 250_000}, key="t-1"
    )
    assert started.status_code == 201, started.content
    body = started.json()
    assert (body["status"], body["payer_fee"], body["total_debit"], body["tariff_version_id"]) == (
        "pending",
        2_500,
        252_500,
        version.pk,
    )
    assert body["payee_name"] == "Marko M."

    again = post(client, "/api/v1/transfers/", {"payee_phone": "064 114 0002", "amount": 250_000}, key="t-1")
    assert again.json() == body and again["Idempotent-Replayed"] == "true"

    confirm_url = f"/api/v1/transfers/{body['id']}/confirm/"
    pin = pin_sent_to(ANA)
    done = post(client, confirm_url, {"pin": pin}, key="c-1")
    assert done.status_code == 200 and done.json()["status"] == "completed"
    replay = post(client, confirm_url, {"pin": pin}, key="c-1")
    assert replay.json() == done.json() and replay["Idempotent-Replayed"] == "true"
    error_of(post(client, confirm_url, {"pin": "000000"}, key="c-1"), 409, "idempotency_conflict")
    assert post(client, confirm_url, {"pin": pin}, key="c-2").json()["status"] == "completed"  # already done
    assert Entry.objects.filter(kind="p2p").count() == 1
    assert ledger.balance(wallet_of(ana)) == 500_000 - 252_500
    assert ledger.balance(wallet_of(marko)) == 250_000
    listed = client.get("/api/v1/transfers/").json()
    assert [t["id"] for t in listed["results"]] == [body["id"]]


def test_money_moving_endpoints_require_an_idempotency_key(ana, marko):
    client = client_for(ana)
    error_of(
        post(client, "/api/v1/transfers/", {"payee_phone": MARKO, "amount": 100}, key=None),
        400,
        "idempotency_key_required",
    )
    error_of(
        post(
            client,
            "/api/v1/withdrawals/",
            {"bank_account": "160-12345-95", "account_holder": "Ana", "amount": 100},
            key=None,
        ),
        400,
        "idempotency_key_required",
    )
    assert not Transfer.objects.exists() and not Withdrawal.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"payee_phone": MARKO, "amount": 0}, 400, "invalid", "amount"),
        ({"payee_phone": MARKO, "amount": "ten"}, 400, "invalid", "amount"),
        ({"payee_phone": MARKO, "amount": 10**16}, 400, "invalid", "amount"),
        ({"payee_phone": MARKO}, 400, "invalid", "amount"),
        ({"payee_phone": "x" * 100, "amount": 100}, 400, "invalid", "payee_phone"),
        ({"payee_phone": "12", "amount": 100}, 400, "invalid", "payee_phone"),
        ({"payee_phone": "+381641149999", "amount": 100}, 422, "payee_not_found", "payee_phone"),
        ({"payee_phone": ANA, "amount": 100}, 400, "invalid", "payee_phone"),
        ({"payee_phone": MARKO, "amount": 600_000}, 422, "insufficient_funds", None),
        ({"payee_phone": MARKO, "amount": 100, "message": "m" * 141}, 400, "invalid", "message"),
        ({"payee_phone": MARKO, "amount": 100, "currency": "EUR"}, 422, "account_not_active", None),
    ],
)
def test_bad_transfers_answer_4xx_naming_the_field(ana, marko, body, status, code, field):
    error = error_of(post(client_for(ana), "/api/v1/transfers/", body), status, code)
    if field:
        assert field in error["fields"]
    assert not Transfer.objects.exists()


def test_a_wrong_pin_answers_422_and_moves_nothing(ana, marko):
    client = client_for(ana)
    transfer = post(client, "/api/v1/transfers/", {"payee_phone": MARKO, "amount": 1_000}).json()
    right = pin_sent_to(ANA)
    error = error_of(
        post(
            client,
            f"/api/v1/transfers/{transfer['id']}/confirm/",
            {"pin": "000000" if right != "000000" else "111111"},
        ),
        422,
        "pin_invalid",
    )
    assert error["attempts_left"] == 2
    error_of(post(client, f"/api/v1/transfers/{transfer['id']}/confirm/", {"pin": "12"}), 400, "invalid")
    assert ledger.balance(wallet_of(marko)) == 0


def test_one_customer_never_reaches_anothers_transfer(ana, marko):
    transfer = post(client_for(ana), "/api/v1/transfers/", {"payee_phone": MARKO, "amount": 1_000}).json()
    other = client_for(marko)
    error_of(other.get(f"/api/v1/transfers/{transfer['id']}/"), 404, "not_found")
    error_of(
        post(other, f"/api/v1/transfers/{transfer['id']}/confirm/", {"pin": pin_sent_to(ANA)}),
        404,
        "not_found",
    )
    error_of(other.post(f"/api/v1/transfers/{transfer['id']}/cancel/"), 404, "not_found")
    assert other.get("/api/v1/transfers/").json()["results"] == []
    assert Transfer.objects.get().status == "pending"


def test_anonymous_callers_get_401(marko):
    client = APIClient()
    for url in ("/api/v1/transfers/", "/api/v1/withdrawals/", "/api/v1/templates/", "/api/v1/autopayments/"):
        assert client.get(url).status_code == 401


def test_a_withdrawal_over_the_api(ana):
    publish_tariff("withdrawal", fixed_fee=5_000)
    client = client_for(ana)
    bad = post(
        client,
        "/api/v1/withdrawals/",
        {"bank_account": "160-12345-96", "account_holder": "Ana", "amount": 100},
    )
    assert "bank_account" in error_of(bad, 400, "invalid_bank_account")["fields"]
    error_of(
        post(client, "/api/v1/withdrawals/", {"bank_account": "160-12345-95", "account_holder": "Ana"}),
        400,
        "invalid",
    )

    started = post(
        client,
        "/api/v1/withdrawals/",
        {"bank_account": "RS35 2600 0560 1001 6113 79", "account_holder": "Ana Demo", "whole_balance": True},
    )
    assert started.status_code == 201, started.content
    body = started.json()
    assert (body["amount"], body["fee"], body["bank_account_kind"]) == (495_000, 5_000, "iban")
    done = post(client, f"/api/v1/withdrawals/{body['id']}/confirm/", {"pin": pin_sent_to(ANA)})
    assert done.json()["status"] == "requested"
    assert ledger.balance(wallet_of(ana)) == 0


def test_templates_and_an_automatic_payment_over_the_api(ana, marko):
    client = client_for(ana)
    created = client.post(
        "/api/v1/templates/", {"name": "Rent", "payee_phone": MARKO, "amount": 150_000}, format="json"
    )
    assert created.status_code == 201, created.content
    template = created.json()
    error_of(
        client.post("/api/v1/templates/", {"name": "Rent", "payee_phone": MARKO}, format="json"),
        400,
        "invalid",
    )
    changed = client.put(
        f"/api/v1/templates/{template['id']}/",
        {"name": "Rent", "payee_phone": MARKO, "amount": 160_000},
        format="json",
    )
    assert changed.json()["amount"] == 160_000
    error_of(client_for(marko).get(f"/api/v1/templates/{template['id']}/"), 404, "not_found")

    schedule = client.post(
        "/api/v1/autopayments/",
        {"template_id": template["id"], "frequency": "monthly", "day_of_month": 31},
        format="json",
    )
    assert schedule.status_code == 201, schedule.content
    public_id = schedule.json()["id"]
    confirmed = client.post(
        f"/api/v1/autopayments/{public_id}/confirm/", {"pin": pin_sent_to(ANA)}, format="json"
    )
    assert confirmed.json()["status"] == "active" and confirmed.json()["amount"] == 160_000
    cancelled = client.post(f"/api/v1/autopayments/{public_id}/cancel/")
    assert cancelled.json()["status"] == "cancelled"
    assert client.delete(f"/api/v1/templates/{template['id']}/").status_code == 204


def test_the_tariff_and_the_fee_preview_are_public():
    seed_demo_tariffs()
    client = APIClient()
    plans = client.get("/api/v1/tariffs/").json()
    by_service = {plan["service"]: plan for plan in plans}
    assert by_service["bill:water"]["version"]["fixed_fee"] == 3_500
    broadcasting = by_service["bill:broadcasting"]["version"]
    assert broadcasting["tier_parameter"] == "months"
    assert [(t["lower"], t["upper"], t["fixed_fee"]) for t in broadcasting["tiers"]] == [
        (1, 6, 3_000),
        (7, 12, 7_000),
    ]
    games = client.get("/api/v1/tariffs/", {"category": "games"}).json()
    assert {plan["service"] for plan in games} >= {"bill:steam", "bill:gaijin"}

    quote = client.post(
        "/api/v1/tariffs/quote/",
        {"service": "bill:broadcasting", "amount": 100_000, "params": {"months": 7}},
        format="json",
    ).json()
    assert (quote["payer_fee"], quote["total_debit"]) == (7_000, 107_000)
    steam = client.post(
        "/api/v1/tariffs/quote/", {"service": "bill:steam", "amount": 12_345}, format="json"
    ).json()
    assert steam["payer_fee"] == fees.percent_of(12_345, 500) == 617
    free = client.post(
        "/api/v1/tariffs/quote/", {"service": "bill:nothing", "amount": 100}, format="json"
    ).json()
    assert (free["payer_fee"], free["tariff_version_id"]) == (0, None)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"service": "bill:broadcasting", "amount": 100}, 400, "invalid_fee_parameter"),
        ({"service": "bill:broadcasting", "amount": 100, "params": {"months": 13}}, 422, "no_tariff_tier"),
        ({"service": "bill:broadcasting", "amount": 100, "params": {"months": "x"}}, 400, "invalid"),
        ({"service": "Bad code!", "amount": 100}, 400, "invalid"),
        ({"service": "p2p", "amount": -1}, 400, "invalid"),
        ({"service": "p2p", "amount": 100, "currency": "dinar"}, 400, "invalid"),
        ({}, 400, "invalid"),
    ],
)
def test_bad_fee_previews_answer_4xx(body, status, code):
    seed_demo_tariffs()
    error_of(APIClient().post("/api/v1/tariffs/quote/", body, format="json"), status, code)
