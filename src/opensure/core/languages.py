"""Which language a customer gets (SPEC §10): a BCP 47 tag or an ``Accept-Language`` header
matched against the languages we have, with English when nothing matches.

A leaf: no framework, no database. The survey pages, the dispatcher and a survey's own
translations all choose through :func:`negotiate`, so a tag means the same everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from babel.core import negotiate_locale

DEFAULT = "en"
# The built-in texts' languages (src/opensure/locale/<lang>/): English is the source.
BUILT_IN = ("en", "de", "fr", "es", "nl", "ar", "he")
# Written right to left.
RTL = frozenset({"ar", "he", "fa", "ur", "yi", "ps", "ckb", "dv", "sd", "ug"})

# One entry of an Accept-Language header: a language range and its optional weight.
_ENTRY = re.compile(r"^\s*([A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?")
_MAX_HEADER = 1000
# A BCP 47 tag as people write them: a 2-3 letter language, then subtags of 1-8 letters/digits.
_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")


def normalise(tag: str) -> str | None:
    """``FR_ca`` → ``fr-CA``: lower-case language, upper-case region, title-case script;
    None when ``tag`` is not a language tag."""
    tag = tag.strip().replace("_", "-")
    if not _TAG.fullmatch(tag):
        return None
    language, *rest = tag.split("-")
    parts = [language.lower()]
    for sub in rest:
        if len(sub) == 2 and sub.isalpha():
            parts.append(sub.upper())
        elif len(sub) == 4 and sub.isalpha():
            parts.append(sub.title())
        else:
            parts.append(sub.lower())
    return "-".join(parts)


def _preferences(value: str) -> list[str]:
    """The ranges of a tag or an Accept-Language header, most wanted first (q=0 left out).
    A lone tag (``fr-CA``) is a header of one entry."""
    weighted: list[tuple[float, int, str]] = []
    for position, entry in enumerate(value.split(",")):
        found = _ENTRY.match(entry)
        if found is None:
            continue
        try:
            q = float(found.group(2)) if found.group(2) is not None else 1.0
        except ValueError:
            continue
        if q <= 0 or found.group(1) == "*":
            continue
        weighted.append((-min(q, 1.0), position, found.group(1).replace("_", "-")))
    return [tag for _, _, tag in sorted(weighted)]


@lru_cache(maxsize=1024)
def _negotiate(value: str, available: tuple[str, ...]) -> str:
    # Babel's matching, in the order of preference: the exact tag, then its language alone
    # (``fr-CA`` → ``fr``), case-insensitively. It answers in the request's spelling.
    found = negotiate_locale(_preferences(value), available, sep="-")
    if found is None:
        return DEFAULT
    by_lower = {tag.lower(): tag for tag in available}
    return by_lower.get(found.lower(), DEFAULT)


def negotiate(tag_or_accept_language: str | None, available: Iterable[str] = BUILT_IN) -> str:
    """The best of ``available`` for a BCP 47 tag (``fr-CA``) or an ``Accept-Language`` header
    (``nl,en;q=0.5``); ``en`` when nothing matches or nothing was given."""
    if not tag_or_accept_language:
        return DEFAULT
    try:
        # Cut before the cache, so that its keys stay small whatever a browser sends.
        return _negotiate(tag_or_accept_language.strip()[:_MAX_HEADER], tuple(available))
    except ValueError:
        return DEFAULT


def direction(lang: str) -> str:
    """``rtl`` for languages written right to left (Arabic, Hebrew, …), else ``ltr``."""
    return "rtl" if lang.split("-")[0].lower() in RTL else "ltr"


def survey_translation(
    translations: Mapping[str, Any] | None, requested: str | None
) -> tuple[str, dict[str, Any]] | None:
    """A survey's own translation (``surveys.translations``: by language tag) for a BCP 47 tag
    or an ``Accept-Language`` header, with its tag; None when it has none for it."""
    if not requested or not isinstance(translations, Mapping) or not translations:
        return None
    language = negotiate(requested, tuple(translations))
    chosen = translations.get(language)
    return (language, chosen) if isinstance(chosen, dict) else None
