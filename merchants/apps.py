from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    name = "merchants"

    def ready(self):
        # Bill payments as a kind of template and automatic payment (wallet knows no merchants).
        from notifications import webhooks

        from . import bill_templates, services

        bill_templates.register()
        webhooks.register_targets(services.webhook_target)
