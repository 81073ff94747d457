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

# Payments: P2P transfer, withdrawal, templates, automatic payments (wallet/payment_views.py).
from . import payment_views  # noqa: E402

urlpatterns += [
    path("wallet/pay/", payment_views.payments, name="payments"),
    path("wallet/transfer/", payment_views.transfer_new, name="transfer"),
    path("wallet/transfer/<uuid:public_id>/", payment_views.transfer_confirm, name="transfer-confirm"),
    path("wallet/withdraw/", payment_views.withdrawal_new, name="withdraw"),
    path("wallet/withdraw/<uuid:public_id>/", payment_views.withdrawal_confirm, name="withdrawal-confirm"),
    path("wallet/templates/", payment_views.templates, name="templates"),
    path("wallet/templates/new/", payment_views.template_edit, name="template-new"),
    path("wallet/templates/<int:pk>/", payment_views.template_edit, name="template-edit"),
    path("wallet/templates/<int:pk>/delete/", payment_views.template_delete, name="template-delete"),
    path("wallet/autopay/", payment_views.autopayments, name="autopay"),
    path("wallet/autopay/new/", payment_views.autopayment_new, name="autopay-new"),
    path("wallet/autopay/<uuid:public_id>/", payment_views.autopayment_confirm, name="autopay-confirm"),
    path("wallet/autopay/<uuid:public_id>/cancel/", payment_views.autopayment_cancel, name="autopay-cancel"),
]
