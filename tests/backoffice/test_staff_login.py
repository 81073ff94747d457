"""The admin is behind password + TOTP; django-axes locks staff brute force, never customers."""

import pytest
from django.urls import reverse

from tests.backoffice.helpers import current_code, totp_device
from tests.factories import UserFactory, active_customer
from wallet import customers, throttle

pytestmark = [pytest.mark.django_db, pytest.mark.real_otp]
PASSWORD = "correct horse battery"


def _login(client, user, code=""):
    return client.post(
        reverse("admin:login"),
        {"username": str(user.phone), "password": PASSWORD, "otp_token": code, "next": "/admin/"},
    )


def test_admin_refuses_a_staff_user_without_a_verified_totp_device(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    response = _login(client, staff)
    assert response.status_code == 200
    assert "no authenticator" in response.content.decode()
    client.force_login(staff)  # password alone (real_otp: no second factor in the session)
    assert client.get("/admin/").status_code == 302
    assert client.get(reverse("admin:wallet_entry_changelist")).status_code == 302


def test_admin_refuses_a_wrong_or_missing_code_and_admits_the_right_one(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    device = totp_device(staff)
    assert _login(client, staff, "").status_code == 200
    assert (
        _login(client, staff, "000000" if current_code(device) != "000000" else "111111").status_code == 200
    )
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # a wrong code slows the next try (django-otp)
    device.throttle_reset()
    response = _login(client, staff, current_code(device))
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_an_sms_pin_device_is_not_a_staff_second_factor(client):
    staff = UserFactory(is_staff=True, is_superuser=True, phone_verified_at=None)
    customers.resend_phone_pin(user=staff)  # a PhonePin device exists (a customer device)
    response = _login(client, staff, "123456")
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_axes_locks_out_repeated_wrong_staff_passwords(client, settings):
    staff = UserFactory(is_staff=True, is_superuser=True)
    device = totp_device(staff)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            reverse("admin:login"), {"username": str(staff.phone), "password": "wrong", "otp_token": "1"}
        )
    response = _login(client, staff, current_code(device))
    assert response.status_code == 429
    assert client.get("/admin/").status_code == 302


def test_axes_does_not_lock_customers_out_of_the_portal(rf, settings):
    """Customers have their own throttle; axes only watches /admin/ (no rows, no lockout)."""
    from axes.models import AccessAttempt

    user = active_customer(password=PASSWORD)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        request = rf.post("/login/")
        with pytest.raises(customers.InvalidCredentials):
            customers.authenticate_customer(request=request, phone=str(user.phone), password="wrong")
    throttle.reset("login-phone", str(user.phone))  # the wallet's own brake, not axes
    request = rf.post("/login/")
    assert customers.authenticate_customer(request=request, phone=str(user.phone), password=PASSWORD) == user
    assert not AccessAttempt.objects.exists()
