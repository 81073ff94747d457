"""Rendering a message in the recipient's language from per-language template files:

    notifications/<language>/<template>.sms.txt      SMS text (and a portal notice's text)
    notifications/<language>/<template>.subject.txt  email subject (and a portal notice's title)
    notifications/<language>/<template>.email.txt    email body

A missing language falls back to settings.LANGUAGE_CODE, then English. The text is plain: it is
rendered without HTML escaping, under translation.override(language) so dates and numbers are
localised too.
"""

from django.conf import settings
from django.template import Context, Engine
from django.utils import translation

PARTS = ("sms", "subject", "email")


def supported_language(code: str | None) -> str | None:
    """`code` as one of settings.LANGUAGES ("sr-Latn-RS" -> "sr-latn"), or None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code.lower())
    except LookupError:
        return None


def template_names(template: str, part: str, language: str) -> list[str]:
    languages = dict.fromkeys([language, settings.LANGUAGE_CODE, "en"])
    return [f"notifications/{lang}/{template}.{part}.txt" for lang in languages]


def render(template: str, part: str, language: str, context: dict) -> str:
    if part not in PARTS:
        raise ValueError(part)
    engine = Engine.get_default()
    compiled = engine.select_template(template_names(template, part, language))
    with translation.override(language):
        text = compiled.render(Context(context, autoescape=False)).strip()
    if part == "subject":
        text = " ".join(text.split())  # one header line
    return text
