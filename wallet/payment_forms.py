"""Portal forms of the payments pages: they parse and show errors; the rules live in the services
(wallet/transfers.py, withdrawals.py, payment_templates.py, autopay.py)."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .money import MINOR_UNITS, parse_amount

WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


class AmountField(forms.CharField):
    """An amount typed in major units ("1500" or "1500.50"), cleaned to minor units."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.00"}),
        )
        super().__init__(*args, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value in ("", None):
            return None
        currency = settings.PLATFORM_CURRENCY
        try:
            minor = parse_amount(value.replace(" ", ""), currency)
        except ValueError:
            digits = MINOR_UNITS.get(currency, 2)
            raise forms.ValidationError(
                _("Enter an amount such as 1500 or 1500.50 (at most %(digits)s decimals).")
                % {"digits": digits}
            ) from None
        if minor <= 0:
            raise forms.ValidationError(_("The amount must be more than zero."))
        if minor > 10**15:
            raise forms.ValidationError(_("The amount is too large."))
        return minor


def _phone_widget():
    return forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "placeholder": "064 123 4567"})


class TransferForm(forms.Form):
    payee_phone = forms.CharField(label=_("Recipient's phone number"), max_length=32, widget=_phone_widget())
    amount = AmountField(label=_("Amount"))
    message = forms.CharField(label=_("Message (optional)"), max_length=140, required=False)
    save_as = forms.CharField(
        label=_("Save as a template named (optional)"),
        max_length=80,
        required=False,
        help_text=_("To send it again later in one step."),
    )


class OperationPinForm(forms.Form):
    pin = forms.RegexField(
        label=_("PIN from the SMS"),
        regex=r"^\d{6}$",
        error_messages={"invalid": _("The PIN has 6 digits.")},
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": 6}
        ),
    )


class WithdrawalForm(forms.Form):
    bank_account = forms.CharField(
        label=_("Bank account"),
        max_length=64,
        help_text=_(
            "Serbian account (160-0000000012345-67), Macedonian account (300-0000000424-25) or IBAN."
        ),
    )
    account_holder = forms.CharField(label=_("Account holder"), max_length=150)
    amount = AmountField(label=_("Amount"), required=False)
    whole_balance = forms.BooleanField(label=_("Withdraw the whole balance (less the fee)"), required=False)

    def clean(self):
        data = super().clean()
        if not data.get("whole_balance") and not data.get("amount") and "amount" not in self.errors:
            self.add_error("amount", _("Enter the amount, or choose the whole balance."))
        return data


class TemplateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    payee_phone = forms.CharField(label=_("Recipient's phone number"), max_length=32, widget=_phone_widget())
    amount = AmountField(label=_("Amount (optional)"), required=False)
    message = forms.CharField(label=_("Message (optional)"), max_length=140, required=False)


class AutoPaymentForm(forms.Form):
    template = forms.TypedChoiceField(label=_("Template"), coerce=int)
    frequency = forms.ChoiceField(
        label=_("How often"), choices=[("monthly", _("monthly")), ("weekly", _("weekly"))]
    )
    day_of_month = forms.TypedChoiceField(
        label=_("Day of the month"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "-")] + [(d, str(d)) for d in range(1, 32)],
        help_text=_("In shorter months, the last day of the month."),
    )
    weekday = forms.TypedChoiceField(
        label=_("Day of the week"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "-"), *WEEKDAYS],
    )
    amount = AmountField(label=_("Amount"), required=False, help_text=_("Default: the template's amount."))

    def __init__(self, *args, templates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [(t.pk, t.name) for t in templates]

    def clean(self):
        data = super().clean()
        if data.get("frequency") == "monthly" and data.get("day_of_month") is None:
            self.add_error("day_of_month", _("Choose the day of the month."))
        if data.get("frequency") == "weekly" and data.get("weekday") is None:
            self.add_error("weekday", _("Choose the day of the week."))
        return data
