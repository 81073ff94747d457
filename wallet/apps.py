from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    verbose_name = "Wallets and ledger"

    def ready(self):
        from . import ledger  # noqa: F401 - connects the account cache signal
