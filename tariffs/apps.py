from django.apps import AppConfig


class TariffsConfig(AppConfig):
    name = "tariffs"
    verbose_name = "Tariffs"

    def ready(self):
        from wallet import fees

        from . import services

        # wallet imports no other app: it asks for fees through its port, and tariffs plugs in.
        fees.register(services.quote)
