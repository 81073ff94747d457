from django.apps import AppConfig


class AcquiringConfig(AppConfig):
    name = "acquiring"
    verbose_name = "Card acquiring"

    def ready(self):
        from . import integrity

        integrity.register_checks()
