"""The Twilio backend: the exact request Twilio's API receives."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from notifications import services
from notifications.models import Notification
from tests.factories import UserFactory
from tests.notifications.test_delivery import TWILIO
from tests.notifications.twilio_fakes import RecordingHttpClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def twilio(settings):
    for name, value in TWILIO.items():
        setattr(settings, name, value)
    settings.TWILIO_TIMEOUT_SECONDS = 7.5
    RecordingHttpClient.reset()
    yield RecordingHttpClient
    RecordingHttpClient.reset()


def test_twilio_receives_a_message_create_with_our_number_their_phone_the_text_and_our_credentials(
    db, twilio
):
    user = UserFactory(phone="+381645550199")
    [row] = services.record(
        template="phone_pin",
        context={"pin": "482913", "amount": "1.500,00 RSD", "payee": "Shop", "reference": "PR-7"},
        user=user,
        purpose="security",
    )
    assert services.deliver(notification_id=row.pk) == "sent"

    [request] = twilio.requests
    sid = TWILIO["TWILIO_ACCOUNT_SID"]
    assert request["method"] == "POST"
    assert request["url"] == f"https://api.twilio.com/2010-04-01/Accounts/{sid}/Messages.json"
    assert request["data"] == {
        "To": "+381645550199",
        "From": "+15005550006",
        "Body": "PayWallet PIN 482913 to pay 1.500,00 RSD to Shop (#PR-7). Valid 5 min. Never share it.",
    }
    assert request["auth"] == (sid, "twilio-auth-token")
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert twilio.timeouts == [7.5]  # every request to Twilio is bounded in time
    row.refresh_from_db()
    assert row.delivery_attempts.get().provider_message_id == f"SM{1:032x}"
    assert row.status == Notification.Status.SENT


def test_twilio_backend_without_credentials_refuses_to_start():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", "SMS_BACKEND": "twilio"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "TWILIO_ACCOUNT_SID" in result.stderr
