"""Templates and automatic payments of any kind (wallet/payment_templates.py) in pages:
{{ t|payee }} names what it pays, {{ t|use_url }} is the page that pays it by hand."""

from django import template

from wallet import payment_templates

register = template.Library()


@register.filter
def payee(obj) -> str:
    return payment_templates.payee_of(obj)


@register.filter
def use_url(obj) -> str:
    return payment_templates.use_url_of(obj)
