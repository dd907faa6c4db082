"""Field checks that record CustomerSure-style errors instead of stopping at the first one."""

from __future__ import annotations

import datetime as dt
from typing import Any

from email_validator import EmailNotValidError, validate_email

from opensure.api import timestamps
from opensure.api.errors import Errors

EMAIL_FORMAT = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
MAX_ID = 2**63 - 1


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def string(
    errors: Errors,
    field: str,
    value: Any,
    *,
    maximum: int,
    required: bool = False,
) -> str | None:
    """A string no longer than ``maximum``; numbers are taken as their text (PHP sends them)."""
    if _missing(value):
        if required:
            errors.add(field, "required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        errors.add(field, "invalid_value", {"message": "must be a string"})
        return None
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        errors.add(field, "invalid_value", {"message": "must not contain NUL characters"})
        return None
    if len(text) > maximum:
        errors.add(field, "wrong_length", {"maximum": str(maximum)})
        return None
    return text


def email(errors: Errors, field: str, value: Any, *, required: bool, maximum: int) -> str | None:
    text = string(errors, field, value, maximum=maximum, required=required)
    if text is None:
        return None
    text = text.strip()
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        errors.add(field, "invalid_format", {"valid_format": EMAIL_FORMAT})
        return None
    return text


def identifier(errors: Errors, field: str, value: Any, *, required: bool) -> int | None:
    """A positive integer id, as a JSON number or a string of digits."""
    if _missing(value):
        if required:
            errors.add(field, "required")
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip()) if len(value.strip()) <= 20 else None
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None or number < 1 or number > MAX_ID:
        errors.add(field, "invalid_value", {"must_be": "integer", "greater_than": "0"})
        return None
    return number


def timestamp(
    errors: Errors,
    field: str,
    value: Any,
    *,
    required: bool,
    minimum: dt.datetime | None = None,
) -> dt.datetime | None:
    if _missing(value):
        if required:
            errors.add(field, "required")
        return None
    parsed = timestamps.parse(value)
    if parsed is None:
        errors.add(field, "invalid_date", {"valid_format": timestamps.VALID_FORMAT})
        return None
    if minimum is not None and parsed < minimum:
        errors.add(field, "invalid_date", {"minimum": timestamps.format(minimum)})
        return None
    return parsed


def id_list(errors: Errors, field: str, raw: list[str] | None) -> list[int] | None:
    """A ``field[]`` query parameter of ids (``survey_ids[]=1&survey_ids[]=2``); None when
    absent or when an entry is not a valid id (the problem is added to ``errors``)."""
    if raw is None:
        return None
    ids = []
    for item in raw:
        number = parse_path_id(item)
        if number is None:
            errors.add(field, "invalid_value", {"must_be": "integer"})
            return None
        ids.append(number)
    return ids


def parse_path_id(raw: str) -> int | None:
    """An id from the URL, or None (→ 404) when it is not one that can exist."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None
