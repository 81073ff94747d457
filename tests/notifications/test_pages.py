"""Pages and API: the customer's settings, portal notices, the dev SMS outbox, staff admin."""

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from notifications import services
from notifications.models import Notification, NotificationPreference, SmsMessage
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return UserFactory(first_name="Ana", email="ana@example.com")


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


# --- /dev/sms/ ---------------------------------------------------------------------------------


def test_dev_sms_outbox_does_not_exist_without_debug(client, settings):
    settings.DEBUG = False
    SmsMessage.objects.create(to="+381645550101", body="PIN 482913")
    response = client.get("/dev/sms/")
    assert response.status_code == 404
    assert b"482913" not in response.content


def test_dev_sms_outbox_lists_messages_newest_first_with_debug(client, settings):
    settings.DEBUG = True
    now = timezone.now()
    SmsMessage.objects.create(
        to="+381645550101", body="older message", created_at=now - timezone.timedelta(minutes=1)
    )
    SmsMessage.objects.create(to="+381645550102", body="newer message", created_at=now)
    page = client.get("/dev/sms/").content.decode()
    assert page.index("newer message") < page.index("older message")
    assert "+381645550102" in page and "+381645550101" in page


# --- /notifications/settings/ ------------------------------------------------------------------


def test_settings_page_asks_to_sign_in(client):
    response = client.get("/notifications/settings/")
    assert response.status_code == 302
    assert "next=/notifications/settings/" in response["Location"]


def test_customer_chooses_channels_and_gives_marketing_consent_on_the_settings_page(signed_in, user):
    page = signed_in.get("/notifications/settings/")
    assert page.status_code == 200
    assert b"csrfmiddlewaretoken" in page.content
    response = signed_in.post(
        "/notifications/settings/",
        {"sms": "on", "portal": "on", "marketing_consent": "on", "language": "mk"},
    )
    assert response.status_code == 302
    saved = NotificationPreference.objects.get(user=user)
    assert (saved.email, saved.sms, saved.portal, saved.marketing_consent, saved.language) == (
        False,
        True,
        True,
        True,
        "mk",
    )
    assert saved.marketing_consent_at is not None


def test_settings_page_refuses_to_turn_every_channel_off(signed_in, user):
    response = signed_in.post("/notifications/settings/", {"language": "en"})
    assert response.status_code == 200
    assert b"at least one channel" in response.content
    assert not NotificationPreference.objects.filter(user=user).exists()


def test_settings_form_is_refused_without_its_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/notifications/settings/", {"sms": "on", "language": "en"})
    assert response.status_code == 403
    assert not NotificationPreference.objects.filter(user=user).exists()


def test_portal_notices_are_shown_until_marked_read(signed_in, user):
    services.record(
        template="generic_notice",
        context={"subject": "Maintenance", "message": "Tonight 2-3 h"},
        user=user,
        channels=["portal"],
    )
    other = UserFactory()
    services.record(
        template="generic_notice",
        context={"subject": "Not yours", "message": "x"},
        user=other,
        channels=["portal"],
    )
    page = signed_in.get("/notifications/settings/").content.decode()
    assert "Maintenance" in page and "Tonight 2-3 h" in page
    assert "Not yours" not in page

    notice = Notification.objects.get(user=user)
    response = signed_in.post(
        "/notifications/notices/read/", {"notice": notice.pk, "next": "/notifications/settings/"}
    )
    assert response.status_code == 302 and response["Location"] == "/notifications/settings/"
    assert "Maintenance" not in signed_in.get("/notifications/settings/").content.decode()
    assert Notification.objects.get(user=other).read_at is None


def test_marking_read_never_redirects_to_another_site(signed_in, user):
    response = signed_in.post("/notifications/notices/read/", {"next": "https://evil.example/"})
    assert response["Location"] == "/notifications/settings/"


# --- /api/v1/me/notifications/ -----------------------------------------------------------------


def test_api_needs_a_signed_in_customer_and_answers_in_the_error_shape(client):
    response = client.get("/api/v1/me/notifications/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_api_shows_the_defaults_email_on_nothing_else(signed_in):
    assert signed_in.get("/api/v1/me/notifications/").json() == {
        "email": True,
        "sms": False,
        "portal": False,
        "marketing_consent": False,
        "marketing_consent_at": None,
        "language": "en",
    }


def test_api_put_changes_channels_and_consent_any_time(signed_in, user):
    body = {"email": True, "sms": True, "portal": False, "marketing_consent": True, "language": "sr-latn"}
    first = signed_in.put("/api/v1/me/notifications/", body, content_type="application/json")
    assert first.status_code == 200
    assert first.json()["marketing_consent_at"] is not None
    body.update(marketing_consent=False, email=False)
    second = signed_in.put("/api/v1/me/notifications/", body, content_type="application/json").json()
    assert (second["email"], second["sms"], second["marketing_consent"], second["marketing_consent_at"]) == (
        False,
        True,
        False,
        None,
    )
    assert NotificationPreference.objects.get(user=user).language == "sr-latn"


def test_api_refuses_no_channel_at_all_in_the_error_shape(signed_in):
    body = {"email": False, "sms": False, "portal": False, "marketing_consent": False}
    response = signed_in.put("/api/v1/me/notifications/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_channel_chosen"
    assert "channels" in response.json()["error"]["fields"]


def test_api_refuses_an_unknown_language_in_the_error_shape(signed_in):
    body = {"email": True, "sms": False, "portal": False, "marketing_consent": False, "language": "de"}
    response = signed_in.put("/api/v1/me/notifications/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "language" in response.json()["error"]["fields"]


def test_api_is_in_the_openapi_schema(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/v1/me/notifications/" in out.read_text()


# --- admin -------------------------------------------------------------------------------------


def test_staff_see_a_notification_with_its_attempts_but_never_a_pins_text(client, user):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    [pin] = services.record(template="phone_pin", context={"pin": "482913"}, user=user, purpose="security")
    services.deliver(notification_id=pin.pk)
    assert client.get("/admin/notifications/notification/").status_code == 200
    page = client.get(f"/admin/notifications/notification/{pin.pk}/change/").content.decode()
    assert "outbox-" in page  # the attempt, inline
    assert "482913" not in page


def test_staff_resend_action_sends_a_failed_message_again(
    client, user, eager_celery, django_capture_on_commit_callbacks
):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    [row] = services.record(template="account_blocked", context={}, user=user, channels=["sms"])
    Notification.objects.filter(pk=row.pk).update(status="failed", next_attempt_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/notifications/notification/",
            {"action": "resend", "_selected_action": [row.pk]},
        )
    assert response.status_code == 302
    assert SmsMessage.objects.filter(to=str(user.phone)).count() == 1
    assert Notification.objects.filter(status="sent").count() == 1


def test_preferences_are_listed_for_staff(client, user):
    services.update_preferences(user=user, sms=True)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert client.get("/admin/notifications/notificationpreference/").status_code == 200
