"""Choosing a language (SPEC §10): a BCP 47 tag or an ``Accept-Language`` header against the
languages a text exists in. A leaf: no I/O, no imports from the rest of the project."""

from __future__ import annotations

import re
from collections.abc import Iterable

DEFAULT = "en"
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


def _wanted(tag_or_accept_language: str) -> list[str]:
    """The tags asked for, best first (``Accept-Language`` q-values; q=0 means "not this")."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(tag_or_accept_language.split(",")):
        tag, _, params = item.partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        found = normalise(tag)
        if found is not None and quality > 0:
            ranked.append((-quality, index, found))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(tag_or_accept_language: str | None, available: Iterable[str]) -> str:
    """The best of ``available`` for a tag (``fr-CA``) or an ``Accept-Language`` header: the
    exact tag, else its primary language (``fr-CA`` → ``fr``), case-insensitive; else "en"."""
    by_lower = {tag.lower(): tag for tag in available}
    primaries: dict[str, str] = {}
    for tag in by_lower.values():
        primaries.setdefault(tag.split("-")[0].lower(), tag)
    for tag in _wanted(tag_or_accept_language or ""):
        if tag.lower() in by_lower:
            return by_lower[tag.lower()]
        primary = tag.split("-")[0].lower()
        if primary in by_lower:
            return by_lower[primary]
        if primary in primaries:
            return primaries[primary]
    return DEFAULT
