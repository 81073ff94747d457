from django.urls import path

from . import bill_views, views

app_name = "merchants"

urlpatterns = [
    path("pay/<str:public_id>/", views.checkout, name="checkout"),
    path("pay/<str:public_id>/confirm/", views.confirm, name="confirm"),
    path("pay/<str:public_id>/leave/", views.leave, name="leave"),
    path("pay/<str:public_id>/receipt/", views.receipt, name="receipt"),
    path("bills/", bill_views.catalogue, name="bills"),
    path("bills/<int:merchant_id>/", bill_views.bill_form, name="bill"),
    path("merchant/", views.merchant_home, name="home"),
    path("merchant/payments.csv", views.merchant_payments_csv, name="payments-csv"),
    path("merchant/payments/<str:public_id>/", views.merchant_payment, name="payment"),
    path("merchant/statement/", views.merchant_statement, name="statement"),
    path("merchant/webhooks/", views.merchant_webhooks, name="webhooks"),
    path("merchant/keys/", views.merchant_keys, name="keys"),
    path("merchant/settings/", views.merchant_settings, name="settings"),
]
