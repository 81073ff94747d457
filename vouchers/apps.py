from django.apps import AppConfig


class VouchersConfig(AppConfig):
    name = "vouchers"
    verbose_name = "Vouchers"

    def ready(self):
        from wallet import integrity

        from . import integrity as checks

        for name, check in checks.CHECKS:
            integrity.register(name, check)
