"""Staff see every notification with its delivery attempts, and can re-send; the text of a
security message (a PIN, a temporary password) is never shown. Likewise for merchant webhooks:
events, their deliveries and every attempt, read-only, with a re-send action; signing secrets are
never shown."""

import json

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from . import services, webhooks
from .models import (
    DeliveryAttempt,
    Notification,
    NotificationPreference,
    Purpose,
    SmsMessage,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
)


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("at", "ok", "backend", "provider_message_id", "error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "channel",
        "purpose",
        "template",
        "recipient",
        "language",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
    )
    list_filter = ("status", "channel", "purpose", "template", "language")
    search_fields = ("to_phone", "to_email", "user__phone", "template")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    inlines = [DeliveryAttemptInline]
    actions = ["resend"]
    fields = (
        "user",
        "channel",
        "purpose",
        "template",
        "language",
        "to_phone",
        "to_email",
        "subject",
        "text",
        "status",
        "attempts",
        "next_attempt_at",
        "expires_at",
        "sent_at",
        "read_at",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="text")
    def text(self, obj):
        if obj.purpose == Purpose.SECURITY:
            return "(security message: not shown)"
        return obj.body

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_resend_permission(self, request):
        return request.user.has_perm("notifications.resend_notification")

    @admin.action(description="Re-send the selected notifications", permissions=["resend"])
    def resend(self, request, queryset):
        counts = services.resend(notification_ids=queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            f"Re-queued {counts['requeued']}, re-sent as new {counts['copied']}, "
            f"skipped {counts['skipped']} (security messages already delivered or expired).",
            messages.SUCCESS,
        )


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "email", "sms", "portal", "marketing_consent", "marketing_consent_at", "language")
    list_filter = ("email", "sms", "portal", "marketing_consent", "language")
    search_fields = ("user__phone", "user__email")
    raw_id_fields = ("user",)
    # Consent is the customer's to give or withdraw (portal or API), never staff's.
    readonly_fields = ("marketing_consent", "marketing_consent_at", "updated_at")


@admin.register(SmsMessage)
class SmsMessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "to", "body")
    search_fields = ("to",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- merchant webhooks ---------------------------------------------------------------------------


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class WebhookDeliveryInline(ReadOnlyInline):
    model = WebhookDelivery
    fields = ("delivery", "url", "status", "attempts", "next_attempt_at", "last_status_code", "succeeded_at")
    readonly_fields = fields

    @admin.display(description="delivery")
    def delivery(self, obj):
        url = reverse("admin:notifications_webhookdelivery_change", args=[obj.pk])
        return format_html('<a href="{}">#{}</a>', url, obj.pk)


class WebhookAttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ("started_at", "manual", "url", "ok", "status_code", "duration_ms", "error", "response")
    readonly_fields = fields


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_resend_permission(self, request):
        return request.user.has_perm("notifications.resend_webhook")

    def _resend(self, request, deliveries):
        done = off = 0
        for delivery in deliveries:
            # To the owner's URL now, signed with its secret now (a rotation or a new URL since).
            url, secret = webhooks.current_target(delivery.event.owner) or (None, None)
            if url == "":
                off += 1
                continue
            webhooks.resend(delivery_id=delivery.pk, manual=True, url=url, secret=secret)
            done += 1
        self.message_user(request, f"Re-sending {done} webhook delivery(ies).", messages.SUCCESS)
        if off:
            self.message_user(
                request, f"{off} not re-sent: their owner has no webhook URL now.", messages.WARNING
            )


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "created_at", "owner", "type", "resource_updated_at")
    list_filter = ("type",)
    search_fields = ("=public_id", "=owner")
    date_hierarchy = "created_at"
    inlines = [WebhookDeliveryInline]
    actions = ["resend"]
    fields = ("public_id", "owner", "type", "created_at", "resource_updated_at", "body")
    readonly_fields = fields

    @admin.display(description="payload")
    def body(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))

    @admin.action(description="Re-send the selected events (their latest delivery)", permissions=["resend"])
    def resend(self, request, queryset):
        latest = []
        for event in queryset.prefetch_related("deliveries"):
            deliveries = list(event.deliveries.all())  # newest first
            if deliveries:
                latest.append(deliveries[0])
        self._resend(request, latest)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "event",
        "event_type",
        "url",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "succeeded_at",
    )
    list_filter = ("status", "event__type")
    search_fields = ("=event__public_id", "=event__owner", "url")
    date_hierarchy = "created_at"
    list_select_related = ("event",)
    inlines = [WebhookAttemptInline]
    actions = ["resend"]
    # Not the secret: it signs the owner's webhooks.
    fields = (
        "event",
        "url",
        "status",
        "attempts",
        "next_attempt_at",
        "manual",
        "last_status_code",
        "succeeded_at",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="type", ordering="event__type")
    def event_type(self, obj):
        return obj.event.type

    @admin.action(description="Re-send the selected deliveries", permissions=["resend"])
    def resend(self, request, queryset):
        self._resend(request, queryset)
