"""The outbox of every message the platform sends (SMS, email, portal notice) and its delivery log.

A `Notification` is written in the caller's transaction with its subject and body already rendered;
a Celery task delivers it after commit and logs each try as a `DeliveryAttempt`. A pending row is
never lost: `resend_unsent` re-enqueues rows whose `next_attempt_at` is due (see services.py).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# What a security message's body becomes once it is delivered (or given up): PINs and temporary
# passwords do not linger in the database.
REDACTED = "[redacted]"


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("email")
    PORTAL = "portal", _("portal notice")


class Purpose(models.TextChoices):
    SECURITY = "security", _("security (PINs, passwords)")
    OPERATION = "operation", _("operation (receipts, notices)")
    MARKETING = "marketing", _("marketing")


class Notification(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
    )
    to_phone = models.CharField(_("phone"), max_length=32, blank=True)
    to_email = models.EmailField(_("email"), blank=True)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    template = models.CharField(max_length=64)
    language = models.CharField(max_length=16)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField()
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.OPERATION)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next try is due; null once the row is sent or failed.
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    # A security message (a 5-minute PIN) is worthless late: it is given up after this time.
    expires_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)  # portal notices
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("resend_notification", "Can re-send a notification")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(channel="sms") | ~Q(to_phone=""), name="notification_sms_has_phone"
            ),
            models.CheckConstraint(
                condition=~Q(channel="email") | ~Q(to_email=""), name="notification_email_has_address"
            ),
            models.CheckConstraint(
                condition=~Q(channel="portal") | Q(user__isnull=False), name="notification_portal_has_user"
            ),
            models.CheckConstraint(
                condition=~Q(purpose="security") | Q(channel="sms"), name="notification_security_by_sms"
            ),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False),
                name="notification_pending_is_scheduled",
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="notification_sent_has_time"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="notification_pending_due",
            ),
            models.Index(
                fields=["user", "-created_at"],
                condition=Q(channel="portal", read_at__isnull=True),
                name="notification_unread_notices",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.channel} {self.template} to {self.recipient} ({self.status})"

    @property
    def recipient(self) -> str:
        if self.channel == Channel.SMS:
            return self.to_phone
        if self.channel == Channel.EMAIL:
            return self.to_email
        return f"user {self.user_id}"

    @property
    def redacted(self) -> bool:
        return self.body == REDACTED


class DeliveryAttempt(models.Model):
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="delivery_attempts")
    at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    backend = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ok=True) | ~Q(error=""), name="delivery_attempt_failure_has_error"
            ),
        ]

    def __str__(self):
        return f"{'ok' if self.ok else 'failed'} at {self.at:%Y-%m-%d %H:%M:%S}"


class SmsMessage(models.Model):
    """The `outbox` SMS backend's store: what would have been sent (tests, demo, /dev/sms/)."""

    to = models.CharField(max_length=32)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "SMS message (outbox)"
        verbose_name_plural = "SMS messages (outbox)"

    def __str__(self):
        return f"to {self.to} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class NotificationPreference(models.Model):
    """How a customer wants operation notices (several channels at once) and whether marketing may
    reach them (explicit, revocable consent). Security messages ignore these: always SMS."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email = models.BooleanField(_("by email"), default=True)
    sms = models.BooleanField(_("by SMS"), default=False)
    portal = models.BooleanField(_("in the portal"), default=False)
    marketing_consent = models.BooleanField(_("offers and news"), default=False)
    marketing_consent_at = models.DateTimeField(null=True, blank=True)
    # Empty: the account's language (User.language), else the platform's (settings.LANGUAGE_CODE).
    language = models.CharField(max_length=16, choices=settings.LANGUAGES, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(email=True) | Q(sms=True) | Q(portal=True),
                name="notification_preference_some_channel",
            ),
            models.CheckConstraint(
                condition=Q(marketing_consent=False) | Q(marketing_consent_at__isnull=False),
                name="notification_preference_consent_has_time",
            ),
        ]

    def __str__(self):
        return f"preferences of user {self.user_id}"

    @property
    def channels(self) -> list[str]:
        """The chosen channels, in the order they are tried: email, SMS, portal."""
        chosen = [(self.email, Channel.EMAIL), (self.sms, Channel.SMS), (self.portal, Channel.PORTAL)]
        return [str(channel) for on, channel in chosen if on]


# --- merchant webhooks (services in notifications/webhooks.py) -----------------------------------


class WebhookEvent(models.Model):
    """Something that happened to an owner's resource (a merchant's payment), as the owner will be
    told: `payload` is the whole JSON body sent, {"id", "type", "created_at", "data"}. Written in
    the caller's transaction; never changed afterwards."""

    public_id = models.CharField(max_length=32, unique=True)  # "evt_..." (the webhook-id header)
    owner = models.CharField(max_length=64)  # "merchant:12"; notifications does not know merchants
    type = models.CharField(max_length=64)  # "payment.succeeded"
    payload = models.JSONField()
    resource_updated_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("resend_webhook", "Can re-send a webhook")]
        indexes = [models.Index(fields=["owner", "-created_at"], name="webhook_event_owner_recent")]
        constraints = [
            models.CheckConstraint(condition=Q(public_id__startswith="evt_"), name="webhook_event_public_id"),
            models.CheckConstraint(condition=~Q(owner=""), name="webhook_event_has_owner"),
            models.CheckConstraint(condition=~Q(type=""), name="webhook_event_has_type"),
        ]

    def __str__(self):
        return f"{self.public_id} {self.type} for {self.owner}"


class WebhookDelivery(models.Model):
    """One event on its way to one URL. A pending delivery is due at `next_attempt_at`; while an
    attempt is under way `claim` holds that attempt's token and `next_attempt_at` is the end of its
    lease (a worker killed mid-attempt leaves the row to be taken again once the lease is over)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    url = models.CharField(max_length=500)  # validated by the owner's app (merchants/)
    # The key it is signed with (a standard-webhooks "whsec_..." secret); a rotation updates the
    # pending deliveries. It has to be kept as it is: an HMAC cannot be computed from a hash.
    secret = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    claim = models.CharField(max_length=32, blank=True, default="")  # the attempt under way, if any
    manual = models.BooleanField(default=False)  # the next attempt is a person's re-send
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_pending_due"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "succeeded", "failed"]), name="webhook_delivery_status"
            ),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False),
                name="webhook_delivery_pending_is_scheduled",
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | (Q(next_attempt_at__isnull=True) & Q(claim="")),
                name="webhook_delivery_finished_is_unscheduled",
            ),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(succeeded_at__isnull=False),
                name="webhook_delivery_succeeded_has_time",
            ),
            models.CheckConstraint(condition=~Q(url="") & ~Q(secret=""), name="webhook_delivery_has_target"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.event.public_id} to {self.url} ({self.status})"


class WebhookAttempt(models.Model):
    """One POST of a delivery (or one that could not be made), kept for staff and the merchant."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts_made")
    url = models.CharField(max_length=500)  # where it went: a retarget changes the delivery's URL
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # null: no HTTP answer
    response = models.CharField(max_length=500, blank=True)  # the first 500 characters of the body
    error = models.TextField(blank=True)
    ok = models.BooleanField()
    manual = models.BooleanField(default=False)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ok=False) | (Q(status_code__gte=200) & Q(status_code__lt=300)),
                name="webhook_attempt_ok_is_2xx",
            ),
            models.CheckConstraint(
                condition=Q(ok=True) | ~Q(error=""), name="webhook_attempt_failure_has_error"
            ),
        ]

    def __str__(self):
        return f"{'ok' if self.ok else 'failed'} at {self.started_at:%Y-%m-%d %H:%M:%S}"
