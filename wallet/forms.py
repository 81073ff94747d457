"""Portal forms: they parse and show errors; the rules live in wallet.customers."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from config.errors import DomainError


def add_domain_error(form: forms.Form, exc: DomainError) -> None:
    """Shows a service's error on the form: per field where it names fields, else on top."""
    placed = False
    for field, messages in (exc.fields or {}).items():
        target = field if field in form.fields else None
        for message in messages:
            form.add_error(target, message)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


class RegisterForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150)
    email = forms.EmailField(label=_("Email"), max_length=254)
    phone = forms.CharField(
        label=_("Mobile phone"),
        max_length=32,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "placeholder": "064 123 4567"}),
        help_text=_("Your phone number is your wallet number."),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class PinForm(forms.Form):
    pin = forms.RegexField(
        label=_("PIN from the SMS"),
        regex=r"^\d{6}$",
        error_messages={"invalid": _("The PIN has 6 digits.")},
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": 6}
        ),
    )


class LoginForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile phone"),
        max_length=32,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        label=_("Current password"),
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password = forms.CharField(
        label=_("New password"),
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class PasswordResetRequestForm(forms.Form):
    phone = forms.CharField(
        label=_("Mobile phone"), max_length=32, widget=forms.TextInput(attrs={"type": "tel"})
    )


class PasswordResetConfirmForm(PinForm):
    phone = forms.CharField(
        label=_("Mobile phone"), max_length=32, widget=forms.TextInput(attrs={"type": "tel"})
    )
    new_password = forms.CharField(
        label=_("New password"),
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class ProfileForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150)
    email = forms.EmailField(label=_("Email"), max_length=254, required=False)
    address = forms.CharField(
        label=_("Address"), max_length=300, required=False, help_text=_("Printed on your payment receipts.")
    )
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)


class HistoryFilterForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), required=False)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, kinds=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("All"))] + [(k, k.replace("_", " ")) for k in kinds]


class CloseAccountForm(forms.Form):
    password = forms.CharField(label=_("Password"), max_length=128, widget=forms.PasswordInput)
    confirm = forms.BooleanField(label=_("I understand that a closed account cannot be used again."))
