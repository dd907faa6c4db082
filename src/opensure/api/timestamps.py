"""ISO 8601 in (the forms SPEC §3 lists), ``YYYY-MM-DDTHH:MM:SSZ`` in UTC out."""

from __future__ import annotations

import datetime as dt
import re

# 2015-01-01 | 2015-01-01T00:00 | 2015-01-01T00:00:00 | …:00.123 ; then Z | ±HH | ±HHMM | ±HH:MM
_ISO = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?"
    r"(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)

VALID_FORMAT = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$"


def parse(value: object) -> dt.datetime | None:
    """The aware UTC datetime a client meant, or None when the value is not one we accept.

    A missing offset means UTC; a bare date means midnight UTC; fractions of a second are
    accepted (JavaScript's ``toISOString()`` sends them) and dropped.
    """
    if not isinstance(value, str):
        return None
    m = _ISO.fullmatch(value.strip())
    if m is None:
        return None
    try:
        date = dt.date.fromisoformat(m["date"])
        if m["h"] is None:
            return dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)
        tz = dt.UTC
        if m["tz"] and m["tz"] not in ("Z", "z"):
            raw = m["tz"].replace(":", "")
            sign = -1 if raw[0] == "-" else 1
            hours = int(raw[1:3])
            minutes = int(raw[3:5]) if len(raw) > 3 else 0
            if hours > 23 or minutes > 59:
                return None
            tz = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
        value_dt = dt.datetime(
            date.year,
            date.month,
            date.day,
            int(m["h"]),
            int(m["m"]),
            int(m["s"] or 0),
            tzinfo=tz,
        )
    except ValueError:
        return None
    return value_dt.astimezone(dt.UTC)


def format(value: dt.datetime | str | None) -> str | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC, or None. Also takes a timestamp as SQLite stores it
    (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), which the bare driver returns (opensure.db.fast)."""
    if value is None:
        return None
    if isinstance(value, str):
        return f"{value[:10]}T{value[11:19]}Z"
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(dt.UTC)
    return value.isoformat(timespec="seconds")[:19] + "Z"
