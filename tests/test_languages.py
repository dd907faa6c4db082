"""The customer's language (SPEC §10) without a database: choosing it, its direction, and the
built-in texts' catalogs — complete, and with the English placeholders in every translation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from opensure.core.languages import BUILT_IN, direction, negotiate
from opensure.core.translations import LOCALE_DIR, po_path, translator
from opensure.dispatch.templating import (
    DEFAULT_BODY,
    DEFAULT_SUBJECT,
    PLACEHOLDERS,
    _fast_template,
    default_template,
    render,
    template_problems,
)

TRANSLATED = [lang for lang in BUILT_IN if lang != "en"]
# Where the right word is the English one.
SAME_AS_ENGLISH = {("de", "(optional)"), ("es", "Error: %(title)s")}
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|\{[a-z_]+\}")


@pytest.mark.parametrize(
    ("given", "chosen"),
    [
        ("de", "de"),
        ("fr-CA", "fr"),  # BCP 47: the region falls back to its language
        ("FR-ca", "fr"),  # case does not matter
        ("es_ES", "es"),  # the underscore some systems write
        ("he-IL", "he"),
        ("nl,en;q=0.5", "nl"),  # Accept-Language, most wanted first
        ("en;q=0.4, ar;q=0.9", "ar"),  # by weight, not position
        ("pt-BR, fr;q=0.3", "fr"),  # the first one we have
        ("de;q=0, fr", "fr"),  # q=0: not wanted at all
        ("xx", "en"),  # unknown → English
        ("*", "en"),
        ("", "en"),
        (None, "en"),
        ("not a tag;;;,", "en"),
    ],
)
def test_negotiate(given: str | None, chosen: str) -> None:
    assert negotiate(given) == chosen


def test_negotiate_against_other_languages() -> None:
    """How the survey's own translations choose: against the languages a survey has."""
    assert negotiate("fr-CA", ["en", "fr-CA", "fr"]) == "fr-CA"
    assert negotiate("fr-ca", ["en", "fr"]) == "fr"
    assert negotiate("de", ["en", "fr"]) == "en"


def test_direction() -> None:
    assert direction("ar") == "rtl"
    assert direction("he") == "rtl"
    assert direction("ar-EG") == "rtl"
    assert [direction(lang) for lang in ("en", "de", "fr", "es", "nl")] == ["ltr"] * 5


def _ids(path: Path) -> dict[str, str]:
    with path.open("rb") as f:
        catalog = read_po(f)
    return {str(m.id): str(m.string) for m in catalog if m.id}


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_text_is_translated_with_the_same_placeholders(lang: str) -> None:
    source = _ids(LOCALE_DIR / "messages.pot")
    assert len(source) > 50
    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang)
    translated = {str(m.id): m for m in catalog if m.id}
    assert sorted(translated) == sorted(source), "run `make translations` and translate"
    for msgid, message in translated.items():
        assert message.string, f"{lang}: not translated: {msgid!r}"
        assert not message.fuzzy, f"{lang}: fuzzy: {msgid!r}"
        if (lang, msgid) not in SAME_AS_ENGLISH:
            assert message.string != msgid, f"{lang}: still English: {msgid!r}"
        assert sorted(PLACEHOLDER.findall(str(message.string))) == sorted(
            PLACEHOLDER.findall(msgid)
        ), f"{lang}: placeholders differ in {msgid!r}"


def test_translator_is_loaded_once_per_language() -> None:
    assert translator("de") is translator("de")
    assert translator("de").gettext("Send feedback") == "Feedback senden"
    assert translator("ar").dir == "rtl"
    # Anything that is not a built-in language is English.
    assert translator("xx").lang == "en"
    assert translator("en").gettext("Send feedback") == "Send feedback"
    assert (
        translator("fr").gettext("Choose a number from %(low)s to %(high)s.", low=1, high=5)
        == "Veuillez choisir un nombre de 1 à 5."
    )


VALUES = {
    "first_name": "Kate",
    "surname": "Smith",
    "name": "Kate Smith",
    "email": "kate@example.com",
    "company": "Acme",
    "reference": "#1041",
    "survey_link": "https://opensure.test/s/abc?t=tok",
    "unsubscribe_link": "https://opensure.test/u/tok",
    "rating_scale": "",
    "reminder": "",
}


def test_english_default_is_the_documented_default() -> None:
    assert default_template("en") == (DEFAULT_SUBJECT, DEFAULT_BODY)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_default_template_of_each_language(lang: str) -> None:
    subject, body = default_template(lang)
    assert default_template(lang) is default_template(lang)  # built once
    assert template_problems(subject, body) == []
    # Only placeholders and ifs: the dispatcher's fast path renders it.
    assert _fast_template(subject, False) is not None
    assert _fast_template(body, True) is not None
    english = render(DEFAULT_BODY, False, VALUES)
    text = render(body, False, VALUES)
    assert text != english
    for name in ("first_name", "company", "reference", "survey_link", "unsubscribe_link"):
        assert VALUES[name] in text
    # Without a first name or reference, the sentences that need them are left out.
    bare = render(body, False, {**VALUES, "first_name": "", "reference": ""})
    assert "Kate" not in bare and "#1041" not in bare
    assert render(subject, False, VALUES) != render(DEFAULT_SUBJECT, False, VALUES)
    # With a one-click scale: the scale, then the survey's own link in a translated sentence.
    scaled = render(body, False, {**VALUES, "rating_scale": "[SCALE]"})
    english_scaled = render(DEFAULT_BODY, False, {**VALUES, "rating_scale": "[SCALE]"})
    assert scaled.index("[SCALE]") < scaled.index(VALUES["survey_link"])
    assert "Or open the survey" in english_scaled and "Or open the survey" not in scaled
    assert set(PLACEHOLDERS) >= {"first_name", "company"}
    # The reminder's sentence, translated, only in the reminder.
    reminded = render(body, False, {**VALUES, "reminder": "reminder"})
    english_reminded = render(DEFAULT_BODY, False, {**VALUES, "reminder": "reminder"})
    assert "We wrote to you" in english_reminded and "We wrote to you" not in english
    assert len(reminded) > len(text) and "We wrote to you" not in reminded
