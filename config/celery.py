import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("payments")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Every worker relays the urgent messages (PIN SMS, webhooks) that requests hand over through Redis.
app.steps["worker"].add("notifications.relay:Relay")
