from django.urls import path

from . import api

urlpatterns = [
    path("check/", api.CheckView.as_view(), name="terminal-check"),
    path("top-up/", api.TopUpView.as_view(), name="terminal-top-up"),
    path("change-receipt/", api.ChangeReceiptView.as_view(), name="terminal-change-receipt"),
    path("sell-voucher/", api.SellVoucherView.as_view(), name="terminal-sell-voucher"),
    path("transactions/<str:txn_id>/", api.TransactionStatusView.as_view(), name="terminal-transaction"),
    path("summary/", api.SummaryView.as_view(), name="terminal-summary"),
]
