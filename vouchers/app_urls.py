from django.urls import path

from . import app_api

urlpatterns = [
    path("redeem/", app_api.RedeemVoucherView.as_view(), name="app-voucher-redeem"),
]
