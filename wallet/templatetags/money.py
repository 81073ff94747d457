from django import template

from wallet.money import format_amount

register = template.Library()


@register.filter
def money(minor, currency="RSD"):
    """{{ 150000|money:"RSD" }} -> 1,500.00 RSD"""
    if minor is None or minor == "":
        return ""
    return format_amount(int(minor), currency)


@register.filter
def percent_bp(basis_points) -> str:
    """{{ 2000|percent_bp }} -> 20%"""
    return f"{int(basis_points or 0) / 100:g}%"
