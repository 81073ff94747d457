from django.conf import settings
from rest_framework import serializers


class NotificationPreferencesSerializer(serializers.Serializer):
    """The customer's choice of channels for operation notices, and marketing consent."""

    email = serializers.BooleanField()
    sms = serializers.BooleanField()
    portal = serializers.BooleanField()
    marketing_consent = serializers.BooleanField()
    marketing_consent_at = serializers.DateTimeField(read_only=True, allow_null=True)
    # The language messages are written in (on GET: the effective one, see selectors.message_language).
    language = serializers.ChoiceField(choices=[code for code, _ in settings.LANGUAGES], required=False)
