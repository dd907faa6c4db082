"""The public links in survey emails, written once: the dispatcher builds them, the public
pages route and read them.

A survey link is ``{base}/s/{code}?t={token}&{params}``: the survey's public code, the request's
link token (which ties answers to the request) and the request's own query parameters. An
answer link (one per value of the scale a one-click e-mail shows) is
``{base}/s/{code}?t={token}&q{question_id}={value}&{params}``: the survey page opens with that
value chosen, and records nothing until the customer submits (docs/api.md). An unsubscribe link
is ``{base}/u/{token}`` (RFC 8058 one-click POST goes to the same address).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote_plus, urlencode

SURVEY_PATH = "/s/{code}"
UNSUBSCRIBE_PATH = "/u/{token}"
# The query parameter (and form field) that carries the request's link token.
TOKEN_PARAM = "t"
# The query parameter (and form field) that carries an answer to a question.
ANSWER_PARAM = "q{question_id}"
ANSWER_KEY = re.compile(r"q([0-9]{1,18})")


def survey_link(base: str, code: str, token: str, params: Sequence[tuple[str, str]] = ()) -> str:
    # urlencode([(TOKEN_PARAM, token), *params]), without its per-call overhead for the token.
    query = f"{TOKEN_PARAM}={quote_plus(token)}"
    if params:
        query += "&" + urlencode(params)
    return f"{base}{SURVEY_PATH.format(code=code)}?{query}"


def answer_links(
    base: str,
    code: str,
    token: str,
    question_id: int,
    values: Iterable[int],
    params: Sequence[tuple[str, str]] = (),
) -> list[tuple[int, str]]:
    """Each value with the survey link that opens with it chosen (the parts shared by the
    values built once: an e-mail carries eleven of them)."""
    answer = ANSWER_PARAM.format(question_id=question_id)
    prefix = f"{base}{SURVEY_PATH.format(code=code)}?{TOKEN_PARAM}={quote_plus(token)}&{answer}="
    suffix = "&" + urlencode(params) if params else ""
    return [(value, f"{prefix}{value}{suffix}") for value in values]


def unsubscribe_link(base: str, token: str) -> str:
    return base + UNSUBSCRIBE_PATH.format(token=token)


# The console's one-time link where a new user sets a password (`opensure users create`).
SET_PASSWORD_PATH = "/app/set-password/{token}"


def set_password_link(base: str, token: str) -> str:
    return base + SET_PASSWORD_PATH.format(token=token)
