"""PIN rows (one per payment, transfer, registration) are deleted a day after their PIN expired;
a live PIN stays and still confirms."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import UserFactory, pin_sent_to
from wallet import pins, tasks
from wallet.models import PhonePin

pytestmark = pytest.mark.django_db


def test_purge_deletes_pins_expired_over_a_day_ago_and_keeps_live_ones():
    user = UserFactory()
    pins.send_pin(user=user, purpose="payment", subject="payment:1")
    pins.send_pin(user=user, purpose="payment", subject="payment:2")
    old = PhonePin.objects.get(subject="payment:1")
    PhonePin.objects.filter(pk=old.pk).update(valid_until=timezone.now() - timedelta(days=1, minutes=1))

    assert tasks.purge_expired_pins() == 1

    assert list(PhonePin.objects.values_list("subject", flat=True)) == ["payment:2"]
    pins.confirm_pin(user=user, purpose="payment", subject="payment:2", pin=pin_sent_to(str(user.phone)))
    assert pins.purge_expired() == 0  # used a moment ago: kept until a day has passed
