from django.urls import path

from . import views

app_name = "acquiring"

urlpatterns = [
    path("card/pay/<str:public_id>/", views.pay, name="pay"),
    path("card/pay/<str:public_id>/3ds/", views.threeds, name="threeds"),
    path("card/pay/<str:public_id>/result/", views.result, name="result"),
    path("card/topup/", views.topup, name="topup"),
    path("card/merchant/settlements/", views.merchant_settlements, name="merchant-settlements"),
    path("card/staff/settlements/<int:batch_id>/", views.staff_settlement, name="staff-settlement"),
]
