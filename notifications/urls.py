"""Included at the site root by config/urls.py: the app's paths carry their own prefixes."""

from django.urls import path

from . import api, views

app_name = "notifications"

urlpatterns = [
    path("notifications/settings/", views.preferences, name="settings"),
    path("notifications/notices/read/", views.mark_read, name="mark-read"),
    path("dev/sms/", views.dev_sms_outbox, name="dev-sms"),
    path("api/v1/me/notifications/", api.MyNotificationPreferencesView.as_view(), name="api-preferences"),
]
