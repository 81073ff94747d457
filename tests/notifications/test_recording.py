"""Recording: in the caller's transaction, on the channels the purpose and the customer allow,
in the customer's language."""

import pytest
from django.core import mail
from django.db import transaction
from django.utils import translation

from notifications import services
from notifications.errors import NoChannelChosen
from notifications.models import REDACTED, Notification, NotificationPreference, SmsMessage
from tests.factories import UserFactory
from wallet import notify


@pytest.fixture
def user(db):
    return UserFactory(first_name="Ana", email="ana@example.com")


def channels_of(rows):
    return sorted(n.channel for n in rows)


# --- transactions ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_operation_records_and_sends_nothing(eager_celery):
    user = UserFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        notify.notify(template="phone_pin", context={"pin": "482913"}, user=user, purpose="security")
        notify.notify(template="welcome", context={}, user=user)
        raise RuntimeError("the operation failed after recording its messages")
    assert Notification.objects.count() == 0
    assert SmsMessage.objects.count() == 0
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_a_committed_message_is_sent_only_after_the_commit(eager_celery):
    user = UserFactory(email="ana@example.com")
    with transaction.atomic():
        notify.notify(template="phone_pin", context={"pin": "482913"}, user=user, purpose="security")
        notify.notify(template="welcome", context={}, user=user)
        assert SmsMessage.objects.count() == 0
        assert mail.outbox == []
    sms = SmsMessage.objects.get()
    assert sms.to == str(user.phone)
    assert "482913" in sms.body
    assert [m.to for m in mail.outbox] == [["ana@example.com"]]
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}


def test_wallet_notify_port_is_plugged_into_the_notifications_outbox(user):
    notify.notify(template="generic_notice", context={"message": "Hello"}, user=user)
    assert Notification.objects.get().body == "Hello\n\nPayWallet"


# --- channels ----------------------------------------------------------------------------------


def test_security_message_goes_by_sms_to_the_phone_whatever_the_preferences(user):
    services.update_preferences(user=user, email=True, sms=False, portal=True)
    rows = services.record(
        template="temporary_password", context={"password": "Xy7Kp2Qa9z"}, user=user, purpose="security"
    )
    assert channels_of(rows) == ["sms"]
    assert rows[0].to_phone == str(user.phone)
    assert rows[0].to_email == ""


def test_security_message_may_go_to_a_phone_that_is_not_yet_a_users(db):
    rows = services.record(
        template="phone_pin", context={"pin": "111222"}, phone="064 555 0101", purpose="security"
    )
    assert [(n.channel, n.to_phone, n.user_id) for n in rows] == [("sms", "+381645550101", None)]


def test_security_message_refuses_any_channel_but_sms(user):
    with pytest.raises(ValueError, match="SMS"):
        services.record(
            template="phone_pin", context={"pin": "1"}, user=user, purpose="security", channels=["email"]
        )
    assert Notification.objects.count() == 0


def test_operation_message_goes_by_email_by_default(user):
    rows = services.record(template="account_blocked", context={}, user=user)
    assert [(n.channel, n.to_email) for n in rows] == [("email", "ana@example.com")]


def test_operation_message_falls_back_to_sms_when_the_customer_has_no_email(db):
    user = UserFactory(email="")
    rows = services.record(template="account_blocked", context={}, user=user)
    assert [(n.channel, n.to_phone) for n in rows] == [("sms", str(user.phone))]


def test_operation_message_goes_on_every_channel_the_customer_chose(user):
    services.update_preferences(user=user, email=True, sms=True, portal=True)
    rows = services.record(template="account_blocked", context={"reason": "fraud check"}, user=user)
    assert channels_of(rows) == ["email", "portal", "sms"]
    portal = next(n for n in rows if n.channel == "portal")
    assert portal.status == "sent"  # a portal notice is delivered by being written
    assert portal.delivery_attempts.get().ok


def test_operation_message_follows_a_changed_choice(user):
    services.update_preferences(user=user, email=False, sms=True)
    rows = services.record(template="account_blocked", context={}, user=user)
    assert channels_of(rows) == ["sms"]


def test_caller_may_name_the_channels_of_an_operation_message(user):
    rows = services.record(
        template="email_verification",
        context={"path": "/verify-email/abc/"},
        user=user,
        email="new@example.com",
        channels=["email"],
    )
    assert [(n.channel, n.to_email) for n in rows] == [("email", "new@example.com")]
    assert "http://127.0.0.1:8000/verify-email/abc/" in rows[0].body


def test_marketing_without_consent_records_nothing(user):
    services.update_preferences(user=user, email=True, sms=True)
    assert (
        services.record(
            template="generic_notice", context={"message": "Offer"}, user=user, purpose="marketing"
        )
        == []
    )
    assert (
        services.record(
            template="generic_notice", context={"message": "x"}, phone="+381645550102", purpose="marketing"
        )
        == []
    )
    assert Notification.objects.count() == 0


def test_marketing_with_consent_goes_only_on_the_chosen_channels(user):
    services.update_preferences(user=user, email=False, sms=True, marketing_consent=True)
    rows = services.record(
        template="generic_notice", context={"message": "Offer"}, user=user, purpose="marketing"
    )
    assert channels_of(rows) == ["sms"]


def test_withdrawn_marketing_consent_stops_marketing(user):
    granted = services.update_preferences(user=user, marketing_consent=True)
    assert granted.marketing_consent_at is not None
    withdrawn = services.update_preferences(user=user, marketing_consent=False)
    assert withdrawn.marketing_consent_at is None
    assert (
        services.record(
            template="generic_notice", context={"message": "Offer"}, user=user, purpose="marketing"
        )
        == []
    )


def test_preferences_keep_at_least_one_channel(user):
    services.update_preferences(user=user, sms=True)
    with pytest.raises(NoChannelChosen):
        services.update_preferences(user=user, email=False, sms=False, portal=False)
    saved = NotificationPreference.objects.get(user=user)
    assert (saved.email, saved.sms, saved.portal) == (True, True, False)


# --- language ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "PayWallet PIN 482913 to confirm your registration. Valid 5 min. Never share it."),
        ("sr-latn", "PayWallet PIN 482913 za potvrdu registracije. Važi 5 min. Ne delite ga ni sa kim."),
        (
            "mk",
            "PayWallet PIN 482913 за потврда на регистрацијата. Важи 5 мин. Не го споделувајте со никого.",
        ),
    ],
)
def test_message_is_written_in_the_customers_language(user, language, expected):
    services.update_preferences(user=user, language=language)
    context = {"pin": "482913", "summary": "registration", "minutes": 5}
    [row] = services.record(template="phone_pin", context=context, user=user, purpose="security")
    assert (row.language, row.body) == (language, expected)


def test_email_subject_and_body_are_in_the_customers_language(user):
    services.update_preferences(user=user, language="mk")
    [row] = services.record(template="welcome", context={}, user=user)
    assert row.subject == "Добредојдовте во PayWallet"
    assert row.body.startswith("Здраво, Ana!")


def test_a_new_customer_without_saved_preferences_gets_the_language_they_browse_in(db):
    with translation.override("sr-latn"):
        [row] = services.record(
            template="phone_pin",
            context={"pin": "1", "summary": "registration"},
            phone="+381645550103",
            purpose="security",
        )
    assert row.language == "sr-latn"
    assert "registracije" in row.body


def test_without_a_chosen_message_language_the_accounts_language_is_used(db):
    user = UserFactory(language="mk", email="")
    [row] = services.record(template="account_blocked", context={}, user=user)
    assert row.language == "mk"
    services.update_preferences(user=user, language="sr-latn")
    [row] = services.record(template="account_blocked", context={}, user=user)
    assert row.language == "sr-latn"


def test_saved_language_wins_over_the_language_of_the_page(user):
    services.update_preferences(user=user, language="en")
    with translation.override("mk"):
        [row] = services.record(template="account_blocked", context={}, user=user)
    assert row.language == "en"


def test_text_is_not_html_escaped(user):
    [row] = services.record(
        template="generic_notice", context={"subject": "Q&A", "message": "Tom & Jerry <shop>"}, user=user
    )
    assert row.subject == "Q&A"
    assert row.body.startswith("Tom & Jerry <shop>")


# --- redaction ---------------------------------------------------------------------------------


def test_security_message_text_is_redacted_once_delivered(user):
    [row] = services.record(template="phone_pin", context={"pin": "482913"}, user=user, purpose="security")
    assert "482913" in row.body  # until it is sent
    assert services.deliver(notification_id=row.pk) == "sent"
    row.refresh_from_db()
    assert row.body == REDACTED
    assert "482913" in SmsMessage.objects.get().body  # the customer got it


def test_operation_message_text_is_kept_after_delivery(user):
    [row] = services.record(template="account_blocked", context={}, user=user)
    services.deliver(notification_id=row.pk)
    row.refresh_from_db()
    assert row.status == "sent"
    assert "blocked" in row.body
