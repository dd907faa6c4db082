"""The rating scale of a one-click e-mail (SPEC §10): when a survey's first question is a
Rating, its e-mails show that question with each value of its scale as a link
(``core.links.answer_links``) that opens the survey with the value chosen.

The ``rating_scale`` placeholder places it: in the HTML part a table made for mail clients
(tables and inline styles only: no SVG, web fonts or script, which Gmail and Outlook strip;
explicit colours on explicit backgrounds, so dark modes that invert or restyle the message keep
it legible; cells that share the width and are at least 24px wide at 320px, 44px tall), in the
text part one line per value. The markup that only depends on the question and the brand
colour is built once (cached); each e-mail adds only its links.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from opensure.core import branding, ratings
from opensure.core.languages import DEFAULT, direction, survey_translation
from opensure.core.links import answer_links
from opensure.core.translations import translator

# The colour of the values' cells when the account has no brand colour, with white on it
# (contrast 6.7:1).
DEFAULT_CELL = "#1d4ed8"
# Colours of the question and of the end words on the e-mail's white background.
INK = "#1f2937"
MUTED = "#374151"
# The most values in one row; a longer scale wraps onto more rows.
ROW_MAX = 11


@dataclass(frozen=True, slots=True)
class RatingScale:
    """The first question of a survey as an e-mail shows it, with a link for every value."""

    question: str
    nps: bool
    links: tuple[tuple[int, str], ...]
    # The words under the ends, in the e-mail's language, and whether it is written right to
    # left (the lowest value is then on the right).
    ends: tuple[str, str] = ratings.end_words(False)
    rtl: bool = False


def first_rating(question: Any) -> Any:
    """``question`` (a survey's first current question, or None) if it is a Rating, else None."""
    if question is None or question.type != "rating":
        return None
    return question


def rating_scale(
    question: Any,
    *,
    base: str,
    code: str,
    token: str,
    params: Sequence[tuple[str, str]],
    lang: str = DEFAULT,
    requested: str | None = None,
) -> RatingScale | None:
    """The scale of ``question`` with this request's links, or None if it is not a Rating;
    its end words in the built-in language ``lang``, its text in the survey's translation for
    ``requested`` (the request's ``language``) when the survey has one."""
    if first_rating(question) is None:
        return None
    low, high = ratings.scale(question)
    links = answer_links(base, code, token, question.id, range(low, high + 1), params)
    nps = bool(question.nps)
    ends = ratings.end_words(nps, translator(lang).gettext)
    text = _translated(question, requested) or question.text
    return RatingScale(text, nps, tuple(links), ends, direction(lang) == "rtl")


def _translated(question: Any, requested: str | None) -> str | None:
    """The question's text in the survey's own translation for the language the request asked
    for (``surveys.translations``: by language, then question id), if it has one."""
    found = survey_translation(getattr(question, "translations", None), requested)
    if found is None:
        return None
    translated = (found[1].get("questions") or {}).get(str(question.id))
    text = translated.get("text") if isinstance(translated, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def as_text(scale: RatingScale | None) -> str:
    """The text part's scale: the question, then one line per value with its link."""
    if scale is None:
        return ""
    low_words, high_words = scale.ends
    last = len(scale.links) - 1
    lines = [scale.question]
    for i, (value, link) in enumerate(scale.links):
        words = low_words if i == 0 else high_words if i == last else ""
        lines.append(f"{value} ({words}): {link}" if words else f"{value}: {link}")
    return "\n".join(lines)


def as_html(scale: RatingScale, colour: str | None) -> str:
    """The HTML part's scale: the question (escaped) above a row of linked values, the words
    for the ends under them."""
    values = tuple(v for v, _ in scale.links)
    pieces = _html_pieces(scale.question, scale.ends, values, colour, scale.rtl)
    out = [pieces[0]]
    for (_, link), piece in zip(scale.links, pieces[1:], strict=True):
        # A link is the public URL, the survey code and URL-encoded parts: only its ``&`` (and
        # a ``"`` in a strange public URL) need escaping in the attribute.
        out.append(link.replace("&", "&amp;").replace('"', "&quot;"))
        out.append(piece)
    return "".join(out)


# Classes the e-mail's dark-mode styles (``render.DARK_STYLE``) recolour where a client
# supports them; everywhere else the inline colours apply.
_BOX = (
    '<table role="presentation" class="os-scale" width="100%" cellpadding="0" cellspacing="0"'
    ' border="0" bgcolor="#ffffff" style="width: 100%; border-collapse: collapse;'
    ' background-color: #ffffff; margin: 0 0 1.5em;">'
)


@lru_cache(maxsize=256)
def _html_pieces(
    question: str, ends: tuple[str, str], values: tuple[int, ...], colour: str | None, rtl: bool
) -> tuple[str, ...]:
    """The scale's markup, split where each value's link goes (one more piece than values)."""
    cell = colour or DEFAULT_CELL
    ink = branding.text_on(cell)
    low_words, high_words = ends
    # Right to left, the table's cells run from the right: the lowest value's words too.
    low_side, high_side = ("right", "left") if rtl else ("left", "right")
    # The cell's colour is on the link itself (no inner table per cell): it keeps the e-mail
    # small, and so quick to encode and send; Outlook's Word engine shows the colour behind the
    # number only, still a link.
    link_style = (
        f"display: block; background-color: {cell}; color: {ink};"
        " font: bold 16px/44px Arial, Helvetica, sans-serif; text-align: center;"
        " text-decoration: none; border-radius: 4px;"
    )
    rows = [values[i : i + ROW_MAX] for i in range(0, len(values), ROW_MAX)] or [()]
    width = max(len(r) for r in rows)
    pieces: list[str] = []
    current = (
        _BOX
        + '<tr><td class="os-text" style="padding: 0 0 8px; font-size: 17px; font-weight: bold;'
        f' line-height: 1.4; color: {INK};">{html.escape(question)}</td></tr>\n'
    )
    cell_open = f'<td width="{100 // width}%" style="padding: 0 1px;"><a href="'
    for row in rows:
        current += (
            '<tr><td style="padding: 0 0 2px;"><table role="presentation" width="100%"'
            ' cellpadding="0" cellspacing="0" border="0" style="width: 100%;'
            ' table-layout: fixed;"><tr>'
        )
        for value in row:
            pieces.append(current + cell_open)
            # A line each: quoted-printable encodes short lines much faster than one long one.
            current = f'" style="{link_style}">{value}</a></td>\n'
        # A short last row keeps the cells' width: empty cells fill it.
        current += "<td></td>" * (width - len(row))
        current += "</tr></table></td></tr>\n"
    current += (
        '<tr><td style="padding: 4px 1px 0;"><table role="presentation" width="100%"'
        ' cellpadding="0" cellspacing="0" border="0"><tr>'
        f'<td class="os-muted" align="{low_side}" style="font-size: 13px; line-height: 1.4;'
        f' color: {MUTED}; text-align: {low_side};">{html.escape(low_words)}</td>'
        f'<td class="os-muted" align="{high_side}" style="font-size: 13px; line-height: 1.4;'
        f' color: {MUTED}; text-align: {high_side};">{html.escape(high_words)}</td>'
        "</tr></table></td></tr></table>"
    )
    pieces.append(current)
    return tuple(pieces)


# The scale of the console's template preview: a made-up first question.
SAMPLE_QUESTION_ID = 1


@dataclass(frozen=True)
class SampleQuestion:
    id: int = SAMPLE_QUESTION_ID
    type: str = "rating"
    text: str = "How likely are you to recommend us to a friend?"
    nps: bool = True
    scale_min: int | None = 0
    scale_max: int | None = 10
