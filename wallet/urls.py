from django.urls import path

from . import api

urlpatterns = [
    path("accounts/<int:pk>/", api.LedgerAccountView.as_view(), name="ledger-account"),
    path("transfers/", api.InternalTransferView.as_view(), name="ledger-transfer"),
]
