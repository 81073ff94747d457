"""Portal forms of vouchers: they parse and show errors; the rules live in vouchers.services."""

from django import forms
from django.utils.translation import gettext_lazy as _

CODE_WIDGET = forms.TextInput(
    attrs={
        "inputmode": "numeric",
        "autocomplete": "off",
        "placeholder": "1234 5678 9012 3456",
        "maxlength": 24,
    }
)


class RedeemForm(forms.Form):
    code = forms.CharField(
        label=_("Voucher code"),
        max_length=24,
        widget=CODE_WIDGET,
        help_text=_("The 16 digits printed on the voucher or the receipt."),
    )


class PayForm(forms.Form):
    code = forms.CharField(label=_("Voucher code"), max_length=24, widget=CODE_WIDGET)
    payee = forms.TypedChoiceField(label=_("Pay to"), coerce=int, choices=())

    def __init__(self, *args, payees=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["payee"].choices = [(a.pk, a.name) for a in payees]


class ConfirmPayForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput, max_length=2000)
