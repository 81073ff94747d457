"""Delivery: idempotent, every attempt logged, retried with growing delays, given up in the end;
pending rows are swept up again by resend_unsent."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from notifications import services, tasks
from notifications.models import REDACTED, DeliveryAttempt, Notification, SmsMessage
from tests.factories import UserFactory
from tests.notifications.twilio_fakes import RecordingHttpClient

TWILIO = {
    "SMS_BACKEND": "tests.notifications.twilio_fakes.RecordingTwilioBackend",
    "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
    "TWILIO_AUTH_TOKEN": "twilio-auth-token",
    "TWILIO_FROM_NUMBER": "+15005550006",
}


@pytest.fixture
def twilio(settings):
    for name, value in TWILIO.items():
        setattr(settings, name, value)
    RecordingHttpClient.reset()
    yield RecordingHttpClient
    RecordingHttpClient.reset()


@pytest.fixture
def user(db):
    return UserFactory(email="ana@example.com")


def sms_to(user, template="account_blocked", purpose="operation", **context):
    [row] = services.record(template=template, context=context, user=user, purpose=purpose, channels=["sms"])
    return row


def make_due(notification):
    """The clock moves on to the retry's time."""
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())


def test_delivering_twice_sends_once(user):
    row = sms_to(user)
    assert services.deliver(notification_id=row.pk) == "sent"
    assert services.deliver(notification_id=row.pk) == "already sent"
    assert tasks.deliver.apply(args=(row.pk,)).get() == "already sent"
    assert SmsMessage.objects.count() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 1)
    assert row.delivery_attempts.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_delivering_the_same_row_at_once_send_it_once():
    row = sms_to(UserFactory())
    barrier = threading.Barrier(4)
    outcomes = []

    def worker():
        try:
            barrier.wait()
            outcomes.append(services.deliver(notification_id=row.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already sent"] * 3 + ["sent"]
    assert SmsMessage.objects.count() == 1


def test_failed_sends_are_retried_with_growing_delays_and_every_attempt_is_recorded(user, twilio, settings):
    delays = settings.NOTIFICATIONS_RETRY_DELAYS
    assert delays == sorted(delays) and len(set(delays)) == len(delays)  # growing
    twilio.responses.extend([(503, {"code": 20503, "message": "Service unavailable", "status": 503})] * 10)
    row = sms_to(user)

    waits = []
    for attempt in range(1, len(delays) + 1):
        before = timezone.now()
        assert services.deliver(notification_id=row.pk) == "retry"
        row.refresh_from_db()
        assert (row.status, row.attempts) == ("pending", attempt)
        waits.append((row.next_attempt_at - before).total_seconds())
        # not tried again before its time
        assert services.deliver(notification_id=row.pk) == "not due"
        make_due(row)

    assert services.deliver(notification_id=row.pk) == "failed"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", len(delays) + 1, None)
    # Each wait is the schedule's delay, give or take the time the attempt itself took.
    assert all(delay <= wait < delay + 5 for wait, delay in zip(waits, delays, strict=True)), waits
    tries = list(row.delivery_attempts.all())
    assert len(tries) == len(delays) + 1 == len(twilio.requests)
    assert all(not t.ok and "503" in t.error and t.backend == "twilio" for t in tries)
    assert services.deliver(notification_id=row.pk) == "already failed"


def test_a_retry_that_succeeds_marks_the_message_sent(user, twilio):
    twilio.responses.append((500, {"code": 20500, "message": "Internal error", "status": 500}))
    row = sms_to(user)
    assert services.deliver(notification_id=row.pk) == "retry"
    make_due(row)
    assert services.deliver(notification_id=row.pk) == "sent"
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2)
    assert [(a.ok, a.provider_message_id.startswith("SM")) for a in row.delivery_attempts.all()] == [
        (False, False),
        (True, True),
    ]


def test_an_invalid_number_is_not_retried(user, twilio):
    twilio.responses.append(
        (400, {"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400})
    )
    row = sms_to(user, template="phone_pin", purpose="security", pin="482913")
    assert services.deliver(notification_id=row.pk) == "failed"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.body) == ("failed", 1, REDACTED)
    assert "21211" in row.delivery_attempts.get().error


def test_a_pin_not_delivered_in_time_is_given_up_not_sent_late(user):
    row = sms_to(user, template="phone_pin", purpose="security", pin="482913")
    Notification.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.deliver(notification_id=row.pk) == "expired"
    row.refresh_from_db()
    assert (row.status, row.body) == ("failed", REDACTED)
    assert SmsMessage.objects.count() == 0


def test_email_goes_through_djangos_email_backend(user):
    [row] = services.record(template="welcome", context={}, user=user)
    assert services.deliver(notification_id=row.pk) == "sent"
    [message] = mail.outbox
    assert (message.to, message.subject) == (["ana@example.com"], "Welcome to PayWallet")
    assert message.body == row.body
    assert row.delivery_attempts.get().provider_message_id == message.extra_headers["Message-ID"]


def test_resend_unsent_delivers_due_pending_rows_and_leaves_fresh_ones_to_their_own_task(user, eager_celery):
    stuck = [sms_to(user), sms_to(user)]
    fresh = sms_to(user)
    Notification.objects.filter(pk__in=[n.pk for n in stuck]).update(
        next_attempt_at=timezone.now() - timedelta(minutes=5)
    )
    assert tasks.resend_unsent.apply().get() == 2
    assert {n.pk: n.status for n in Notification.objects.all()} == {
        stuck[0].pk: "sent",
        stuck[1].pk: "sent",
        fresh.pk: "pending",
    }
    assert SmsMessage.objects.count() == 2
    assert tasks.resend_unsent.apply().get() == 0


def test_operator_can_deliver_unsent_messages_by_hand_without_a_broker(user):
    rows = [sms_to(user), sms_to(user)]
    Notification.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    call_command("resend_notifications", "--sync")
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    call_command("deliver_notification", str(rows[0].pk))
    assert SmsMessage.objects.count() == 2


def test_staff_resend_copies_a_sent_message_and_never_a_delivered_pin(user):
    notice = sms_to(user)
    pin = sms_to(user, template="phone_pin", purpose="security", pin="482913")
    for row in (notice, pin):
        services.deliver(notification_id=row.pk)
    with transaction.atomic():
        counts = services.resend(notification_ids=[notice.pk, pin.pk])
    assert counts == {"requeued": 0, "copied": 1, "skipped": 1}
    copy = Notification.objects.exclude(pk__in=[notice.pk, pin.pk]).get()
    assert (copy.status, copy.body, copy.to_phone) == ("pending", notice.body, notice.to_phone)
    assert DeliveryAttempt.objects.filter(notification=copy).count() == 0
