from django.urls import path

from . import api

urlpatterns = [
    path("card-payments/", api.CardPaymentListCreateView.as_view(), name="card-payments"),
    path("card-payments/<str:public_id>/", api.CardPaymentDetailView.as_view(), name="card-payment"),
    path("card-payments/<str:public_id>/capture/", api.CaptureView.as_view(), name="card-payment-capture"),
    path("card-payments/<str:public_id>/reverse/", api.ReverseView.as_view(), name="card-payment-reverse"),
    path(
        "card-payments/<str:public_id>/refunds/",
        api.CardRefundListCreateView.as_view(),
        name="card-payment-refunds",
    ),
]
