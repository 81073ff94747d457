"""The public tariff page of the portal."""

from django.conf import settings
from django.shortcuts import render

from . import selectors
from .models import TariffPlan


def price_list(request):
    rows = selectors.price_list(currency=settings.PLATFORM_CURRENCY)
    labels = dict(TariffPlan.Category.choices)
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(row.plan.category, []).append(row)
    sections = [(labels.get(category, category), items) for category, items in groups.items()]
    return render(
        request, "tariffs/price_list.html", {"sections": sections, "currency": settings.PLATFORM_CURRENCY}
    )
