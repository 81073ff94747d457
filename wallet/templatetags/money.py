from django import template

from wallet.money import format_amount

register = template.Library()


@register.filter
def money(minor, currency="RSD"):
    """{{ 150000|money:"RSD" }} -> 1,500.00 RSD"""
    if minor is None or minor == "":
        return ""
    return format_amount(int(minor), currency)
