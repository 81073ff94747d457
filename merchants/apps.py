from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    name = "merchants"

    def ready(self):
        # Bill payments as a kind of template and automatic payment (wallet knows no merchants).
        from . import bill_templates

        bill_templates.register()
