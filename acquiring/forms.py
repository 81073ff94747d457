"""The hosted card form. Its fields are never echoed back: a re-shown form starts empty."""

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .cards import parse_card


class CardForm(forms.Form):
    number = forms.CharField(
        label=_("Card number"),
        max_length=23,
        widget=forms.TextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
    )
    exp_month = forms.CharField(
        label=_("Month (MM)"),
        max_length=2,
        widget=forms.TextInput(attrs={"autocomplete": "cc-exp-month", "inputmode": "numeric"}),
    )
    exp_year = forms.CharField(
        label=_("Year (YY)"),
        max_length=4,
        widget=forms.TextInput(attrs={"autocomplete": "cc-exp-year", "inputmode": "numeric"}),
    )
    cvv = forms.CharField(
        label=_("Security code (CVV)"),
        max_length=4,
        widget=forms.PasswordInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric"}),
    )
    holder = forms.CharField(
        label=_("Name on the card"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "cc-name"})
    )
    email = forms.EmailField(label=_("Email for the receipt"), required=False)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        card, errors = parse_card(
            number=data.get("number", ""),
            exp_month=data.get("exp_month"),
            exp_year=data.get("exp_year"),
            cvv=data.get("cvv", ""),
            holder=data.get("holder", ""),
            today=timezone.localdate(),
        )
        for name, messages in errors.items():
            self.add_error(None if name == "expiry" else name, messages[0])
        data["card"] = card
        return data


class ThreeDSForm(forms.Form):
    code = forms.CharField(label=_("One-time code from your bank"), max_length=8)


class TopUpForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount"), min_value=1, max_digits=12, decimal_places=2)
