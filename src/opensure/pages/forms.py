"""Checking a submitted survey form against its questions."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email

from opensure.core.languages import DEFAULT
from opensure.core.links import ANSWER_KEY
from opensure.core.ratings import scale
from opensure.core.translations import N_, translator
from opensure.models.feedback import CONTACT_NAME_MAX, CONTACT_PHONE_MAX, EMAIL_MAX

MAX_TEXT = 10_000
# What the form's fields hold (their maxlength attributes), the same limits the checks below use.
FIELD_LIMITS = {
    "name": CONTACT_NAME_MAX,
    "email": EMAIL_MAX,
    "telephone_number": CONTACT_PHONE_MAX,
    "text": MAX_TEXT,
}
# A whole number as the form sends it: ASCII digits only (str.isdigit() passes "²", which int()
# then refuses), and short enough that int() never refuses it.
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,9}")
# PostgreSQL cannot store a NUL character in text; say so rather than fail.
NUL = "\x00"
UNSTORABLE = N_("Please remove the unusual characters from this answer.")


@dataclass
class Submission:
    answers: dict[int, tuple[str, int | None]] = field(default_factory=dict)
    contact: dict[str, str | None] = field(default_factory=dict)
    # question id (or contact field name) → message shown beside it
    errors: dict[str, str] = field(default_factory=dict)
    # what the person entered, to show the form again on error
    entered: dict[str, list[str]] = field(default_factory=dict)


def check(
    questions: list[Any],
    form: dict[str, list[str]],
    *,
    anonymous: bool,
    gettext: Callable[..., str] | None = None,
) -> Submission:
    """The answers and contact details of a posted form, or each problem in the customer's
    language (``gettext``: ``core.translations.Translator.gettext``; English without it)."""
    _ = gettext or translator(DEFAULT).gettext
    sub = Submission(entered=form)
    for q in questions:
        key = f"q{q.id}"
        values = [v.strip() for v in form.get(key, []) if v.strip()]
        if not values:
            if q.required:
                sub.errors[key] = _("Please answer this question.")
            continue
        if q.type == "rating":
            low, high = scale(q)
            raw = values[0]
            if not WHOLE_NUMBER.fullmatch(raw) or not low <= int(raw) <= high:
                sub.errors[key] = _("Choose a number from %(low)s to %(high)s.", low=low, high=high)
                continue
            sub.answers[q.id] = (str(int(raw)), int(raw))
        elif q.type == "text":
            text = values[0]
            if len(text) > MAX_TEXT:
                sub.errors[key] = _("Please keep this under %(count)s characters.", count=MAX_TEXT)
                continue
            if NUL in text:
                sub.errors[key] = _(UNSTORABLE)
                continue
            sub.answers[q.id] = (text, None)
        elif q.type in ("dropdown", "radio"):
            if values[0] not in (q.options or []):
                sub.errors[key] = _("Choose one of the options.")
                continue
            sub.answers[q.id] = (values[0], None)
        elif q.type == "checkbox":
            options = q.options or []
            if any(v not in options for v in values):
                sub.errors[key] = _("Choose from the options shown.")
                continue
            chosen = [o for o in options if o in values]  # the survey's order, no repeats
            sub.answers[q.id] = (", ".join(chosen), None)
    if anonymous:
        name = _first(form, "name")
        email = _first(form, "email")
        phone = _first(form, "telephone_number")
        if not name:
            sub.errors["name"] = _("Please tell us your name.")
        elif len(name) > CONTACT_NAME_MAX:
            sub.errors["name"] = _(
                "Please keep your name under %(count)s characters.", count=CONTACT_NAME_MAX
            )
        if not email:
            sub.errors["email"] = _("Please give your email address.")
        else:
            try:
                validate_email(email, check_deliverability=False)
            except EmailNotValidError:
                sub.errors["email"] = _("This doesn't look like an email address.")
            if len(email) > EMAIL_MAX:
                sub.errors["email"] = _("This email address is too long.")
        if phone and len(phone) > CONTACT_PHONE_MAX:
            sub.errors["telephone_number"] = _(
                "Please keep the number under %(count)s characters.", count=CONTACT_PHONE_MAX
            )
        for key, value in (("name", name), ("email", email), ("telephone_number", phone)):
            if NUL in value:
                sub.errors[key] = _(UNSTORABLE)
        sub.contact = {"name": name, "email": email, "telephone_number": phone or None}
    return sub


def _first(form: dict[str, list[str]], key: str) -> str:
    values = form.get(key) or [""]
    return values[0].strip()


def chosen_in_link(query: Iterable[tuple[str, str]], questions: list[Any]) -> dict[str, list[str]]:
    """Answers a link chooses (``q{id}={value}``, a one-click e-mail's scale), as the form shows
    them: a Rating's value in its scale, a Radio's or Dropdown's option. Anything else (an
    unknown question, a value the question does not offer) is ignored. Shown, never recorded:
    only submitting the form records an answer."""
    by_id = {q.id: q for q in questions}
    chosen: dict[str, list[str]] = {}
    for key, raw in query:
        found = ANSWER_KEY.fullmatch(key)
        question = by_id.get(int(found[1])) if found else None
        if question is None or key in chosen:
            continue
        value = raw.strip()
        if question.type == "rating":
            low, high = scale(question)
            if WHOLE_NUMBER.fullmatch(value) and low <= int(value) <= high:
                chosen[key] = [str(int(value))]
        elif question.type in ("radio", "dropdown") and value in (question.options or ()):
            chosen[key] = [value]
    return chosen
