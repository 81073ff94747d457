from django.urls import path

from . import api

urlpatterns = [
    path("payments/", api.PaymentListCreateView.as_view(), name="merchant-payments"),
    path("payments/<str:public_id>/", api.PaymentDetailView.as_view(), name="merchant-payment"),
    path("payments/<str:public_id>/cancel/", api.PaymentCancelView.as_view(), name="merchant-payment-cancel"),
    path(
        "payments/<str:public_id>/refunds/",
        api.RefundListCreateView.as_view(),
        name="merchant-payment-refunds",
    ),
]
