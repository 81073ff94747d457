from django.urls import path

from . import views

app_name = "tariffs"

urlpatterns = [
    path("", views.price_list, name="price-list"),
]
