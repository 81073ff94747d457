from django.urls import path

from . import views

app_name = "vouchers"

urlpatterns = [
    path("redeem/", views.redeem, name="redeem"),
    path("pay/", views.pay, name="pay"),
    path("pay/confirm/", views.pay_confirm, name="pay-confirm"),
]
