from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self):
        from wallet import notify

        from . import services

        # wallet imports no other app: it sends through its port, and this app plugs into it.
        notify.register(services.record)
