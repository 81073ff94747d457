"""The platform's base: health, the OpenAPI schema, settings that refuse unsafe production."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from wallet.models import User

ROOT = Path(__file__).resolve().parent.parent


def test_healthz_reports_database_and_broker_reachable(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_answers_503_when_the_broker_is_unreachable(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("unreachable")
    assert response.json()["database"] == "ok"


def test_openapi_schema_validates_without_warnings(tmp_path, db):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/ledger/transfers/" in out.read_text()


def test_schema_and_swagger_ui_are_served(client, db):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def _settings_import(**env):
    ours = {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "SMS_BACKEND", "PLATFORM_URL"}
    clean = {k: v for k, v in os.environ.items() if k not in ours and not k.startswith("TWILIO_")}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "dev-insecure-secret-key-do-not-use-in-production"}, "SECRET_KEY"),
        ({"SECRET_KEY": "s" * 50, "DEBUG": "true", "ALLOWED_HOSTS": "pay.example"}, "DEBUG"),
        ({"SECRET_KEY": "s" * 50}, "ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_to_start_with_the_dev_key_or_debug(env, complaint):
    result = _settings_import(PLATFORM_ENV="production", **env)
    assert result.returncode != 0
    assert complaint in result.stderr


PRODUCTION_OK = {
    "PLATFORM_ENV": "production",
    "SECRET_KEY": "k" * 50,
    "ALLOWED_HOSTS": "pay.example",
    "SMS_BACKEND": "twilio",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "t" * 32,
    "TWILIO_FROM_NUMBER": "+381600000000",
    "PLATFORM_URL": "https://pay.example",
}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [({"SMS_BACKEND": "outbox"}, "SMS_BACKEND"), ({"PLATFORM_URL": "http://pay.example"}, "PLATFORM_URL")],
)
def test_production_refuses_fake_sms_and_a_plain_http_address(change, complaint):
    result = _settings_import(**{**PRODUCTION_OK, **change})
    assert result.returncode != 0
    assert complaint in result.stderr


def test_production_starts_with_its_own_key_and_debug_off():
    result = _settings_import(**PRODUCTION_OK)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


@pytest.mark.parametrize("spelling", ["064 123 4567", "+381641234567", "0641234567", "+381 64 123-4567"])
def test_one_phone_number_in_any_spelling_is_one_customer(db, spelling):
    user = User.objects.create_user("+381 64 1234567", "pw-123-secret", first_name="Ana")
    assert str(user.phone) == "+381641234567"
    assert User.objects.get_by_natural_key(spelling) == user
    assert User.objects.filter(phone="+381641234567").count() == 1


def test_login_by_phone_works_with_local_and_international_spelling(client, db):
    User.objects.create_user("+381641234567", "pw-123-secret")
    assert client.login(username="064 123 4567", password="pw-123-secret")
    assert not client.login(username="not a phone", password="pw-123-secret")
