"""The portal's translation catalogs (locale/): every message is translated, and the compiled .mo
files that are committed (CI has no gettext) say the same as the .po files they come from.

After changing a string: `manage.py makemessages -l sr_Latn -l mk -i .venv -i var`, translate,
then `manage.py compilemessages -i .venv -i var` and commit both files."""

import ast
import gettext
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

LOCALE = Path(settings.LOCALE_PATHS[0])
LANGUAGES = ["sr_Latn", "mk"]


def po_entries(path: Path) -> list[dict]:
    """(msgctxt, msgid, msgstr, flags) of each entry but the header; enough for Django's .po files."""
    entries, entry, key = [], None, None
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if entry and entry.get("msgid"):
                entries.append(entry)
            entry, key = None, None
            continue
        entry = entry if entry is not None else {"flags": "", "msgctxt": None}
        if line.startswith("#,"):
            entry["flags"] += line
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry[key] += ast.literal_eval(line)
        else:
            key, value = line.split(" ", 1)
            entry[key] = ast.literal_eval(value)
    return entries


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_and_the_mo_file_is_up_to_date(language):
    folder = LOCALE / language / "LC_MESSAGES"
    entries = po_entries(folder / "django.po")
    assert len(entries) > 100
    untranslated = [e["msgid"] for e in entries if not e["msgstr"] or "fuzzy" in e["flags"]]
    assert untranslated == []
    with open(folder / "django.mo", "rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    stale = [
        e["msgid"]
        for e in entries
        if (compiled.pgettext(e["msgctxt"], e["msgid"]) if e["msgctxt"] else compiled.gettext(e["msgid"]))
        != e["msgstr"]
    ]
    assert stale == [], "run manage.py compilemessages and commit the .mo files"


@pytest.fixture
def _restore_language():
    """LocaleMiddleware activates the requested language in this thread and leaves it there."""
    before = translation.get_language()
    yield
    if before:
        translation.activate(before)
    else:
        translation.deactivate()


@pytest.mark.usefixtures("_restore_language")
@pytest.mark.parametrize(
    ("language", "log_in", "phone"),
    [("sr-latn", "Prijavi se", "Mobilni telefon"), ("mk", "Најави се", "Мобилен телефон")],
)
def test_the_language_menu_switches_the_portal(db, language, log_in, phone):
    client = Client()
    switched = client.post("/i18n/setlang/", {"language": language, "next": "/login/"})
    assert switched.status_code == 302 and switched["Location"] == "/login/"
    page = client.get("/login/").content.decode()
    assert f'<html lang="{language}">' in page
    assert f"<h1>{log_in}</h1>" in page and f">{phone}</label>" in page
