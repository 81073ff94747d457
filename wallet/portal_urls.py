from django.urls import path

from . import views

app_name = "wallet"

urlpatterns = [
    path("", views.home, name="home"),
    path("register/", views.register, name="register"),
    path("verify-phone/", views.verify_phone, name="verify-phone"),
    path("verify-email/<str:token>/", views.verify_email, name="verify-email"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("wallet/", views.dashboard, name="dashboard"),
    path("wallet/history/", views.history, name="history"),
    path("wallet/history/<int:entry_id>/receipt/", views.receipt, name="receipt"),
    path("profile/", views.profile, name="profile"),
    path("password/", views.password_change, name="password-change"),
    path("password/reset/", views.password_reset, name="password-reset"),
    path("password/reset/confirm/", views.password_reset_confirm, name="password-reset-confirm"),
    path("close/", views.close_account, name="close"),
]
