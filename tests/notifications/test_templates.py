"""Every message exists in every language, and its SMS fits one 160-character message."""

import pytest
from django.conf import settings

from notifications import rendering

TEMPLATES = [
    "phone_pin",
    "welcome",
    "email_verification",
    "temporary_password",
    "password_reset_pin",
    "account_blocked",
    "generic_notice",
]
LANGUAGES = [code for code, _ in settings.LANGUAGES]

# Realistic, long values: the SMS must still fit.
CONTEXT = {
    "platform": "PayWallet",
    "site_url": "https://pay.example.rs",
    "name": "Aleksandra",
    "pin": "482913",
    "summary": "registration",
    "minutes": 5,
    "amount": "12.500,00 RSD",
    "payee": "Prodavnica Primer d.o.o.",
    "reference": "PR-00012345",
    "path": "/verify-email/eyJ1IjoxMiwiZSI6ImFuYUBleGFtcGxlLmNvbSJ9:1vAbCd:xyz/",
    "password": "Xy7Kp2Qa9z",
    "reason": "suspicious activity",
    "subject": "Planned maintenance",
    "message": "The service is unavailable tonight from 02:00 to 03:00.",
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_message_is_written_in_every_language(template, language):
    for part in rendering.PARTS:
        names = rendering.template_names(template, part, language)
        text = rendering.render(template, part, language, CONTEXT)
        assert text, (template, part, language)
        assert "{{" not in text and "{%" not in text
        # the file of this very language exists: no silent fallback to English
        from django.template import Engine

        assert Engine.get_default().find_template(names[0])


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", sorted(set(TEMPLATES) - {"email_verification", "generic_notice"}))
def test_sms_fits_in_160_characters(template, language):
    text = rendering.render(template, "sms", language, CONTEXT)
    assert len(text) <= 160, (len(text), text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_pin_sms_names_the_amount_payee_and_operation_it_confirms(language):
    text = rendering.render("phone_pin", "sms", language, CONTEXT)
    for value in ("482913", "12.500,00 RSD", "Prodavnica Primer d.o.o.", "PR-00012345"):
        assert value in text
