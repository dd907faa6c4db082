"""The one e-mail normaliser: how OpenSure decides two addresses are the same recipient.

Addresses are kept as the client sent them (``email`` in the API), and beside them in a
normalised column (``email_normalized``) that lookups use: the unsubscribe list, the minimum
interval between surveys to one address, and the ``email`` filter of
``GET /feedback_responses``. Unicode NFC first (the same characters typed two ways are one
address), then lower case over the whole address: mailbox names are case-sensitive by the
letter of RFC 5321, but no provider a customer uses treats them so, and a customer who
unsubscribed as ``Kate@Example.com`` must not be surveyed as ``kate@example.com``. Written in
Python, not SQL, so that both engines agree (SQLite's ``lower()`` folds ASCII only).
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from opensure.core.errors import AdminError


def normalise_email(address: str) -> str:
    return unicodedata.normalize("NFC", address.strip()).lower()


def normalised_or_none(address: str | None) -> str | None:
    return None if address is None else normalise_email(address)


def operator_address(email: str) -> str:
    """An address an operator typed (a console user, an unsubscribe), stripped; an AdminError
    naming the problem when it is not an e-mail address."""
    try:
        validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise AdminError(f"{email!r} is not a valid e-mail address: {exc}") from None
    return email.strip()
