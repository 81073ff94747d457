from django.urls import path

from . import api

urlpatterns = [
    path("", api.TariffListView.as_view(), name="app-tariffs"),
    path("quote/", api.QuoteView.as_view(), name="app-tariff-quote"),
]
