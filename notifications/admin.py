"""Staff see every notification with its delivery attempts, and can re-send; the text of a
security message (a PIN, a temporary password) is never shown."""

from django.contrib import admin, messages

from . import services
from .models import DeliveryAttempt, Notification, NotificationPreference, Purpose, SmsMessage


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
