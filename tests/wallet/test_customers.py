"""Customer accounts: registration with an SMS PIN, PIN rules, passwords, tiers and limits,
lifecycle (blocked, closed, inactive), and one customer never seeing another's data."""

import warnings
from datetime import timedelta

import pytest
from django.core.cache.backends.base import CacheKeyWarning
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import MerchantAccountFactory, fund, pin_sent_to
from wallet import customers, errors, ledger, pins, throttle
from wallet.models import Account, PhonePin, Tier, User

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Sunce-nad-Dunavom-42"


def register(phone="064 555 0101", **extra):
    data = {
        "phone": phone,
        "first_name": "Ana",
        "last_name": "Petrović",
        "email": "ana@example.com",
        "password": PASSWORD,
        **extra,
    }
    return customers.register_customer(**data)


def wallet(user) -> Account:
    return Account.objects.get(owner=user, kind=Account.Kind.CUSTOMER)


# --- registration and the phone PIN ---------------------------------------------------------------


def test_registration_opens_a_pending_wallet_that_the_sms_pin_activates():
    user = register()
    assert str(user.phone) == "+381645550101"
    assert wallet(user).status == Account.Status.PENDING
    assert wallet(user).max_balance == Tier.objects.get(code="unverified", currency="RSD").max_balance

    customers.verify_phone(user=user, pin=pin_sent_to(user.phone))

    user.refresh_from_db()
    assert user.phone_verified_at is not None
    assert wallet(user).status == Account.Status.ACTIVE


def test_a_pending_wallet_cannot_pay_before_the_phone_is_confirmed():
    user = register()
    fund(wallet(user), 1000)  # a top-up may arrive before the customer confirms
    with pytest.raises(errors.AccountNotActive):
        ledger.post(
            kind="pay",
            reference="early",
            currency="RSD",
            legs=[(wallet(user).pk, -100), (MerchantAccountFactory().pk, 100)],
        )
    assert isinstance(customers.wallet_refusal(wallet(user)), errors.AccountNotVerified)


def test_the_same_phone_cannot_register_twice_in_any_spelling():
    register("064 555 0101")
    with pytest.raises(customers.PhoneTaken):
        register("+381645550101")
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "12"}, "phone"),
        ({"phone": "not a phone"}, "phone"),
        ({"phone": "+38923123456"}, "phone"),  # a Macedonian landline
        ({"phone": "+14155550123"}, "phone"),  # a foreign number where only RS is allowed
        ({"phone": "011 123 4567"}, "phone"),  # a Belgrade landline
        ({"first_name": ""}, "first_name"),
        ({"last_name": "   "}, "last_name"),
        ({"first_name": "x" * 10_000}, "first_name"),
        ({"email": "not-an-email"}, "email"),
        ({"password": "123"}, "password"),
        ({"password": "password"}, "password"),
    ],
)
def test_bad_registration_input_is_refused_naming_the_field(change, field):
    with pytest.raises(customers.InvalidInput) as info:
        register(**change)
    assert field in info.value.fields
    assert User.objects.count() == 0


def test_a_pin_expires_after_five_minutes(settings):
    user = register()
    pin = pin_sent_to(user.phone)
    PhonePin.objects.filter(user=user).update(valid_until=timezone.now() - timedelta(seconds=1))
    with pytest.raises(pins.PinExpired):
        customers.verify_phone(user=user, pin=pin)
    assert wallet(user).status == Account.Status.PENDING


def test_three_wrong_pins_lock_it_even_for_the_right_pin_until_a_new_one_is_sent():
    user = register()
    pin = pin_sent_to(user.phone)
    wrong = "000000" if pin != "000000" else "111111"
    with pytest.raises(pins.PinInvalid):
        customers.verify_phone(user=user, pin=wrong)
    with pytest.raises(pins.PinInvalid):
        customers.verify_phone(user=user, pin=wrong)
    with pytest.raises(pins.PinLocked):
        customers.verify_phone(user=user, pin=wrong)
    with pytest.raises(pins.PinLocked):
        customers.verify_phone(user=user, pin=pin)

    PhonePin.objects.filter(user=user).update(last_generated_timestamp=timezone.now() - timedelta(minutes=5))
    customers.resend_phone_pin(user=user)
    customers.verify_phone(user=user, pin=pin_sent_to(user.phone))
    assert wallet(user).status == Account.Status.ACTIVE


def test_a_used_pin_cannot_be_used_again():
    user = register()
    pin = pin_sent_to(user.phone)
    pins.send_pin(user=user, purpose="payment", subject="payment:1", force=True)
    payment_pin = pin_sent_to(user.phone)
    pins.confirm_pin(user=user, purpose="payment", subject="payment:1", pin=payment_pin)
    with pytest.raises(pins.PinExpired):
        pins.confirm_pin(user=user, purpose="payment", subject="payment:1", pin=payment_pin)
    customers.verify_phone(user=user, pin=pin)  # the other purpose's PIN is untouched


def test_a_pin_for_one_purpose_never_confirms_another():
    user = register()
    pins.send_pin(user=user, purpose="payment", subject="payment:7:1500:RSD", force=True)
    payment_pin = pin_sent_to(user.phone)
    with pytest.raises((pins.PinInvalid, pins.PinExpired)):
        pins.confirm_pin(user=user, purpose="payment", subject="payment:8:1500:RSD", pin=payment_pin)
    with pytest.raises((pins.PinInvalid, pins.PinExpired)):
        pins.confirm_pin(user=user, purpose="transfer", subject="payment:7:1500:RSD", pin=payment_pin)
    pins.confirm_pin(user=user, purpose="payment", subject="payment:7:1500:RSD", pin=payment_pin)


def test_a_new_pin_is_refused_during_the_cooldown():
    user = register()
    with pytest.raises(pins.PinCooldown):
        customers.resend_phone_pin(user=user)
    PhonePin.objects.filter(user=user).update(last_generated_timestamp=timezone.now() - timedelta(minutes=2))
    customers.resend_phone_pin(user=user)


def test_a_pin_issued_before_the_hmac_named_its_subject_still_confirms_once():
    # PINs in flight at a deploy were stored as HMAC("pin:<row id>:<pin>"): still accepted.
    user = register()
    pins.send_pin(user=user, purpose="payment", subject="payment:9", force=True)
    row = PhonePin.objects.get(user=user, purpose="payment")
    PhonePin.objects.filter(pk=row.pk).update(token=pins._legacy_digest("482913", row.pk)[: len(row.token)])

    pins.confirm_pin(user=user, purpose="payment", subject="payment:9", pin="482913")

    with pytest.raises(pins.PinExpired):  # single use, as any PIN
        pins.confirm_pin(user=user, purpose="payment", subject="payment:9", pin="482913")


def test_pins_are_stored_only_as_a_keyed_hash():
    user = register()
    pin = pin_sent_to(user.phone)
    stored = PhonePin.objects.get(user=user).token
    assert stored and pin not in stored


# --- tiers and limits ----------------------------------------------------------------------------------


def active_customer(phone="064 555 0102"):
    user = register(phone)
    customers.verify_phone(user=user, pin=pin_sent_to(user.phone))
    return user


def pay(account, amount, reference):
    return ledger.post(
        kind="pay",
        reference=reference,
        currency="RSD",
        legs=[(account.pk, -amount), (MerchantAccountFactory().pk, amount)],
    )


def test_unverified_customers_are_held_to_their_tier_limits_with_an_error_naming_the_limit():
    user = active_customer()
    tier = Tier.objects.get(code="unverified", currency="RSD")
    w = wallet(user)

    with pytest.raises(errors.LimitExceeded) as info:
        fund(w, tier.max_balance + 1)
    assert info.value.details["limit"] in {"max_balance", "max_single"}

    fund(w, tier.max_single)
    fund(w, tier.max_single)
    with pytest.raises(errors.LimitExceeded) as info:
        pay(w, tier.max_single + 1, "too-big")
    assert info.value.details["limit"] == "max_single"
    assert "largest single operation" in info.value.message

    pay(w, tier.max_single, "p1")
    fund(w, tier.max_single)
    pay(w, tier.daily_limit - tier.max_single, "p2")
    assert ledger.balance(w) == 3 * tier.max_single - tier.daily_limit > 100
    with pytest.raises(errors.LimitExceeded) as info:
        pay(w, 100, "over-daily")
    assert info.value.details["limit"] == "daily_limit"
    assert ledger.balance(w) == 3 * tier.max_single - tier.daily_limit


def test_the_daily_limit_starts_again_the_next_day_but_the_monthly_one_does_not():
    user = active_customer()
    tier = Tier.objects.get(code="unverified", currency="RSD")
    w = wallet(user)
    Tier.objects.filter(pk=tier.pk).update(max_balance=10**9, max_single=10**9)
    customers.apply_tier_limits(tier=Tier.objects.get(pk=tier.pk))
    fund(w, tier.monthly_limit + 1000)
    pay(w, tier.daily_limit, "day-1")
    with pytest.raises(errors.LimitExceeded):
        pay(w, 1, "day-1-more")

    yesterday = timezone.localdate() - timedelta(days=1)
    Account.objects.filter(pk=w.pk).update(spent_day=yesterday)  # as if that was yesterday
    pay(w, 1, "day-2")

    Account.objects.filter(pk=w.pk).update(spent_this_month=tier.monthly_limit)
    with pytest.raises(errors.LimitExceeded) as info:
        pay(w, 1, "month-full")
    assert info.value.details["limit"] == "monthly_limit"


def test_verified_customers_get_the_higher_limits_at_once():
    user = active_customer()
    verified = Tier.objects.get(code="verified", currency="RSD")
    unverified = Tier.objects.get(code="unverified", currency="RSD")
    with pytest.raises(errors.LimitExceeded):
        fund(wallet(user), unverified.max_single + 1)

    customers.set_tier(user=user, tier="verified")

    fund(wallet(user), unverified.max_single + 1)
    assert wallet(user).max_balance == verified.max_balance


def test_refunds_are_not_held_back_by_limits():
    user = active_customer()
    tier = Tier.objects.get(code="unverified", currency="RSD")
    merchant = MerchantAccountFactory()
    fund(merchant, tier.max_balance * 2)
    fund(wallet(user), tier.max_single)
    fund(wallet(user), tier.max_single)
    fund(wallet(user), tier.max_balance - 2 * tier.max_single)
    with pytest.raises(errors.LimitExceeded):
        fund(wallet(user), 1)
    ledger.post(
        kind="refund",
        reference="rf",
        currency="RSD",
        legs=[(merchant.pk, -1000), (wallet(user).pk, 1000)],
        enforce_limits=False,
    )
    assert ledger.balance(wallet(user)) == tier.max_balance + 1000


# --- lifecycle -----------------------------------------------------------------------------------------


def test_a_blocked_wallet_cannot_pay_and_the_customer_sees_why():
    user = active_customer()
    fund(wallet(user), 1000)
    customers.block_wallet(account=wallet(user), reason="suspected fraud, call support")

    with pytest.raises(errors.AccountNotActive):
        pay(wallet(user), 100, "blocked-pay")
    refusal = customers.wallet_refusal(wallet(user))
    assert (
        "Contact support" in refusal.message and refusal.details["reason"] == "suspected fraud, call support"
    )

    customers.unblock_wallet(account=wallet(user))
    pay(wallet(user), 100, "unblocked-pay")
    assert ledger.balance(wallet(user)) == 900


def test_blocking_needs_a_reason():
    user = active_customer()
    with pytest.raises(customers.InvalidInput):
        customers.block_wallet(account=wallet(user), reason=" ")
    assert wallet(user).status == Account.Status.ACTIVE


def test_closing_with_money_is_refused_with_withdraw_first_and_works_at_zero():
    user = active_customer()
    fund(wallet(user), 500)
    with pytest.raises(customers.BalanceNotZero) as info:
        customers.close_account(user=user)
    assert "Withdraw" in info.value.message
    assert wallet(user).status == Account.Status.ACTIVE

    pay(wallet(user), 500, "spend-all")
    customers.close_account(user=user)
    assert wallet(user).status == Account.Status.CLOSED
    assert not User.objects.get(pk=user.pk).is_active
    with pytest.raises(errors.AccountNotActive):
        fund(wallet(user), 1)


def test_the_daily_job_marks_wallets_without_payments_for_180_days_inactive():
    sleeper, recent, fresh = (
        active_customer("064 555 0201"),
        active_customer("064 555 0202"),
        active_customer("064 555 0203"),
    )
    long_ago = timezone.now() - timedelta(days=181)
    Account.objects.filter(owner=sleeper).update(created_at=long_ago, last_payment_at=long_ago)
    Account.objects.filter(owner=recent).update(
        created_at=long_ago, last_payment_at=timezone.now() - timedelta(days=10)
    )
    Account.objects.filter(owner=fresh).update(created_at=timezone.now() - timedelta(days=5))

    call_command("mark_inactive_wallets")

    assert wallet(sleeper).status == Account.Status.INACTIVE
    assert wallet(recent).status == Account.Status.ACTIVE
    assert wallet(fresh).status == Account.Status.ACTIVE
    customers.note_login(user=sleeper)  # the customer comes back
    assert wallet(sleeper).status == Account.Status.ACTIVE


def test_a_payment_keeps_the_wallet_active():
    user = active_customer()
    fund(wallet(user), 100)
    Account.objects.filter(owner=user).update(created_at=timezone.now() - timedelta(days=400))
    pay(wallet(user), 10, "recent")
    assert customers.mark_inactive_wallets() == 0


# --- accounts created for someone else, passwords ------------------------------------------------


def test_a_customer_created_by_someone_else_gets_a_temporary_password_and_must_change_it():
    user, created = customers.create_customer_with_temporary_password(phone="065 123 4567")
    assert created and user.must_change_password
    temporary = pin_sent_to(user.phone, pattern=r"[A-Za-z0-9]{10}")
    assert user.check_password(temporary)
    assert wallet(user).status == Account.Status.PENDING
    again, created_again = customers.create_customer_with_temporary_password(phone="+381651234567")
    assert again == user and not created_again

    customers.change_password(user=user, old_password=temporary, new_password=PASSWORD)

    user.refresh_from_db()
    assert not user.must_change_password and user.phone_verified_at is not None
    assert wallet(user).status == Account.Status.ACTIVE


def test_password_reset_by_sms_pin_reveals_nothing_about_unknown_phones():
    user = active_customer()
    customers.request_password_reset(phone="064 999 9999")  # unknown: same silence, nothing sent
    customers.request_password_reset(phone="garbage")
    customers.request_password_reset(phone=str(user.phone))
    pin = pin_sent_to(user.phone)

    with pytest.raises(pins.PinExpired):
        customers.reset_password(phone="064 999 9999", pin=pin, new_password="Nova-Lozinka-2026")
    customers.reset_password(phone=str(user.phone), pin=pin, new_password="Nova-Lozinka-2026")
    user.refresh_from_db()
    assert user.check_password("Nova-Lozinka-2026")


# --- the app API: one customer never sees another's data ----------------------------------------------


def api_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_customer_requesting_another_customers_operation_gets_404():
    alice, bob = active_customer("064 555 0301"), active_customer("064 555 0302")
    fund(wallet(alice), 700)
    posted = fund(wallet(bob), 900)

    own = api_for(bob).get(f"/api/v1/history/{posted.entry_id}/")
    other = api_for(alice).get(f"/api/v1/history/{posted.entry_id}/")

    assert own.status_code == 200 and own.json()["amount"] == 900
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    history = api_for(alice).get("/api/v1/history/").json()["results"]
    assert [row["amount"] for row in history] == [700]


def test_app_registration_verification_balance_and_history_over_http():
    client = APIClient()
    response = client.post(
        "/api/v1/register/",
        {"phone": "064 555 0401", "first_name": "Marko", "last_name": "Jovanović", "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 201, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/v1/balance/").status_code == 200

    bad = client.post("/api/v1/verify-phone/", {"pin": "12"}, format="json")
    assert bad.status_code == 400 and "pin" in bad.json()["error"]["fields"]
    ok = client.post("/api/v1/verify-phone/", {"pin": pin_sent_to("+381645550401")}, format="json")
    assert ok.status_code == 200 and ok.json()["phone_verified"] is True

    body = client.get("/api/v1/balance/").json()
    assert body["balance"] == 0 and body["status"] == "active" and body["currency"] == "RSD"


@pytest.mark.parametrize(
    "payload",
    [
        {"phone": "064", "first_name": "A", "last_name": "B", "password": PASSWORD},
        {"phone": 64, "first_name": "A", "last_name": "B", "password": PASSWORD},
        {"phone": ["064 555 0501"], "first_name": "A", "last_name": "B", "password": PASSWORD},
        {"phone": "064 555 0501", "first_name": "", "last_name": "B", "password": PASSWORD},
        {"phone": "064 555 0501", "first_name": "A" * 10_000, "last_name": "B", "password": PASSWORD},
        {"phone": "064 555 0501", "first_name": {"x": 1}, "last_name": "B", "password": PASSWORD},
        {"phone": "+447911123456", "first_name": "A", "last_name": "B", "password": PASSWORD},
        {"phone": "064 555 0501", "first_name": "A", "last_name": "B", "password": None},
        "not an object",
    ],
)
def test_bad_registration_over_the_api_gets_a_4xx_error_never_a_500(payload):
    response = APIClient().post("/api/v1/register/", payload, format="json")
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["error"]["code"] in {"invalid", "invalid_phone"}
    assert User.objects.count() == 0


def test_login_is_throttled_per_phone_after_repeated_failures():
    user = active_customer()
    client = APIClient()
    for _ in range(5):
        r = client.post("/api/v1/auth/token/", {"phone": str(user.phone), "password": "wrong"}, format="json")
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_credentials"
    blocked = client.post(
        "/api/v1/auth/token/", {"phone": str(user.phone), "password": PASSWORD}, format="json"
    )
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "throttled"


def test_login_throttle_keys_are_short_and_hold_no_phone_whatever_was_typed():
    """The brake counts per typed phone: any text (control characters, spaces, any letters) makes
    a valid cache key, and no phone number is kept in one."""
    typed = "064\x07Ð屻 555 0701"
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheKeyWarning)  # memcached would refuse such a key
        response = APIClient().post("/api/v1/auth/token/", {"phone": typed, "password": "x"}, format="json")
    assert 400 <= response.status_code < 500, response.content
    key = throttle._key("login-phone", "+381645550701")
    assert len(key) < 64 and "645550701" not in key


def test_a_customer_on_a_temporary_password_can_only_change_it():
    user, _ = customers.create_customer_with_temporary_password(phone="065 123 4568")
    temporary = pin_sent_to(user.phone, pattern=r"[A-Za-z0-9]{10}")
    client = APIClient()
    token = client.post(
        "/api/v1/auth/token/", {"phone": "065 123 4568", "password": temporary}, format="json"
    ).json()
    assert token["must_change_password"] is True
    client.credentials(HTTP_AUTHORIZATION=f"Token {token['token']}")
    assert client.get("/api/v1/balance/").status_code == 403

    changed = client.post(
        "/api/v1/password/change/", {"old_password": temporary, "new_password": PASSWORD}, format="json"
    )
    assert changed.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {changed.json()['token']}")
    assert client.get("/api/v1/balance/").status_code == 200


def test_closing_over_the_api_with_money_answers_422():
    user = active_customer()
    fund(wallet(user), 1)
    response = api_for(user).post("/api/v1/close/")
    assert response.status_code == 422 and response.json()["error"]["code"] == "balance_not_zero"
