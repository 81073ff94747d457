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
