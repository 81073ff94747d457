from django.urls import path

from . import app_api as api

urlpatterns = [
    path("register/", api.RegisterView.as_view(), name="app-register"),
    path("auth/token/", api.TokenLoginView.as_view(), name="app-token"),
    path("auth/logout/", api.LogoutView.as_view(), name="app-logout"),
    path("verify-phone/", api.VerifyPhoneView.as_view(), name="app-verify-phone"),
    path("verify-phone/resend/", api.ResendPhonePinView.as_view(), name="app-verify-phone-resend"),
    path("me/", api.MeView.as_view(), name="app-me"),
    path("balance/", api.BalanceView.as_view(), name="app-balance"),
    path("history/", api.HistoryView.as_view(), name="app-history"),
    path("history/<int:entry_id>/", api.OperationView.as_view(), name="app-operation"),
    path("password/change/", api.PasswordChangeView.as_view(), name="app-password-change"),
    path("password/reset/", api.PasswordResetView.as_view(), name="app-password-reset"),
    path(
        "password/reset/confirm/", api.PasswordResetConfirmView.as_view(), name="app-password-reset-confirm"
    ),
    path("close/", api.CloseAccountView.as_view(), name="app-close"),
]

# Payments: P2P transfers, withdrawals, templates, automatic payments (wallet/payment_api.py).
from . import payment_api as pay  # noqa: E402

urlpatterns += [
    path("transfers/", pay.TransfersView.as_view(), name="app-transfers"),
    path("transfers/<uuid:public_id>/", pay.TransferView.as_view(), name="app-transfer"),
    path(
        "transfers/<uuid:public_id>/confirm/", pay.TransferConfirmView.as_view(), name="app-transfer-confirm"
    ),
    path(
        "transfers/<uuid:public_id>/resend-pin/",
        pay.TransferResendPinView.as_view(),
        name="app-transfer-resend-pin",
    ),
    path("transfers/<uuid:public_id>/cancel/", pay.TransferCancelView.as_view(), name="app-transfer-cancel"),
    path("withdrawals/", pay.WithdrawalsView.as_view(), name="app-withdrawals"),
    path("withdrawals/<uuid:public_id>/", pay.WithdrawalView.as_view(), name="app-withdrawal"),
    path(
        "withdrawals/<uuid:public_id>/confirm/",
        pay.WithdrawalConfirmView.as_view(),
        name="app-withdrawal-confirm",
    ),
    path(
        "withdrawals/<uuid:public_id>/resend-pin/",
        pay.WithdrawalResendPinView.as_view(),
        name="app-withdrawal-resend-pin",
    ),
    path("templates/", pay.TemplatesView.as_view(), name="app-templates"),
    path("templates/<int:pk>/", pay.TemplateView.as_view(), name="app-template"),
    path("autopayments/", pay.AutoPaymentsView.as_view(), name="app-autopayments"),
    path("autopayments/<uuid:public_id>/", pay.AutoPaymentView.as_view(), name="app-autopayment"),
    path(
        "autopayments/<uuid:public_id>/confirm/",
        pay.AutoPaymentConfirmView.as_view(),
        name="app-autopayment-confirm",
    ),
    path(
        "autopayments/<uuid:public_id>/resend-pin/",
        pay.AutoPaymentResendPinView.as_view(),
        name="app-autopayment-resend-pin",
    ),
    path(
        "autopayments/<uuid:public_id>/cancel/",
        pay.AutoPaymentCancelView.as_view(),
        name="app-autopayment-cancel",
    ),
]
