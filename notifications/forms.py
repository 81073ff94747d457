from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class PreferencesForm(forms.Form):
    email = forms.BooleanField(label=_("By email"), required=False)
    sms = forms.BooleanField(label=_("By SMS"), required=False)
    portal = forms.BooleanField(label=_("In the portal"), required=False)
    marketing_consent = forms.BooleanField(
        label=_("Send me offers and news (you can withdraw this at any time)"), required=False
    )
    language = forms.ChoiceField(label=_("Language of messages"), choices=settings.LANGUAGES)

    def clean(self):
        data = super().clean()
        if not (data.get("email") or data.get("sms") or data.get("portal")):
            raise forms.ValidationError(_("Choose at least one channel: email, SMS or portal."))
        return data
