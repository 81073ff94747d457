from django.apps import AppConfig


class TerminalsConfig(AppConfig):
    name = "terminals"
    verbose_name = "Terminals and agents"

    def ready(self):
        from . import schema  # noqa: F401 - registers the signature scheme with drf-spectacular
