"""The outbox keeps a bounded history: messages done with (sent or failed) are deleted with their
delivery attempts after NOTIFICATIONS_RETENTION_DAYS; a pending one is kept whatever its age."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import services, tasks
from notifications.models import DeliveryAttempt, Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def message(user, *, days_old: int, status: str) -> Notification:
    [row] = services.record(template="account_blocked", context={}, user=user, channels=["sms"])
    written = timezone.now() - timedelta(days=days_old)
    Notification.objects.filter(pk=row.pk).update(
        created_at=written,
        status=status,
        sent_at=written if status == "sent" else None,
        next_attempt_at=written if status == "pending" else None,
    )
    if status != "pending":
        DeliveryAttempt.objects.create(
            notification_id=row.pk, at=written, ok=status == "sent", error="" if status == "sent" else "no"
        )
    return row


def test_purge_deletes_old_sent_and_failed_messages_and_keeps_pending_and_recent_ones(settings):
    settings.NOTIFICATIONS_RETENTION_DAYS = 30
    user = UserFactory()
    old_sent = message(user, days_old=31, status="sent")
    old_failed = message(user, days_old=40, status="failed")
    old_pending = message(user, days_old=90, status="pending")
    recent_sent = message(user, days_old=29, status="sent")

    assert services.purge_old(batch=1) == 2  # batch of one: the loop takes them in turn

    left = set(Notification.objects.values_list("pk", flat=True))
    assert old_sent.pk not in left and old_failed.pk not in left
    assert {old_pending.pk, recent_sent.pk} <= left
    assert not DeliveryAttempt.objects.filter(notification_id__in=[old_sent.pk, old_failed.pk]).exists()
    assert DeliveryAttempt.objects.filter(notification_id=recent_sent.pk).count() == 1
    assert tasks.purge_old() == 0  # nothing more to delete: the daily task is idempotent
