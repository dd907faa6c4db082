"""The public links in survey emails, written once: the dispatcher builds them, the public
pages route and read them.

A survey link is ``{base}/s/{code}?t={token}&{params}``: the survey's public code, the request's
link token (which ties answers to the request) and the request's own query parameters. An
unsubscribe link is ``{base}/u/{token}`` (RFC 8058 one-click POST goes to the same address).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote_plus, urlencode

SURVEY_PATH = "/s/{code}"
UNSUBSCRIBE_PATH = "/u/{token}"
# The query parameter (and form field) that carries the request's link token.
TOKEN_PARAM = "t"


def survey_link(base: str, code: str, token: str, params: Sequence[tuple[str, str]] = ()) -> str:
    # urlencode([(TOKEN_PARAM, token), *params]), without its per-call overhead for the token.
    query = f"{TOKEN_PARAM}={quote_plus(token)}"
    if params:
        query += "&" + urlencode(params)
    return f"{base}{SURVEY_PATH.format(code=code)}?{query}"


def unsubscribe_link(base: str, token: str) -> str:
    return base + UNSUBSCRIBE_PATH.format(token=token)


# The console's one-time link where a new user sets a password (`opensure users create`).
SET_PASSWORD_PATH = "/app/set-password/{token}"


def set_password_link(base: str, token: str) -> str:
    return base + SET_PASSWORD_PATH.format(token=token)
