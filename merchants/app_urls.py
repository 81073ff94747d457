from django.urls import path

from . import api

urlpatterns = [
    path("<str:public_id>/", api.CustomerPaymentView.as_view(), name="app-payment"),
    path("<str:public_id>/initiate/", api.CustomerInitiateView.as_view(), name="app-payment-initiate"),
    path("<str:public_id>/confirm/", api.CustomerConfirmView.as_view(), name="app-payment-confirm"),
]
