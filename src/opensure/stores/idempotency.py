"""The ``idempotency_keys`` table (see :mod:`opensure.api.idempotency`): every query on it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from opensure.db.fast import Query, Session

_FIND = Query(
    "SELECT fingerprint, status_code, body, location, created_at > $3 FROM idempotency_keys "
    "WHERE account_id = $1 AND key = $2"
)
_FORGET = Query("DELETE FROM idempotency_keys WHERE account_id = $1 AND key = $2")
_SWEEP = Query("DELETE FROM idempotency_keys WHERE account_id = $1 AND created_at < $2")
_CLAIM = Query(
    "INSERT INTO idempotency_keys (account_id, key, fingerprint, created_at) "
    "VALUES ($1, $2, $3, $4)"
)
_RECORD = Query(
    "UPDATE idempotency_keys SET status_code = $3, body = $4, location = $5 "
    "WHERE account_id = $1 AND key = $2"
)


@dataclass(frozen=True, slots=True)
class Stored:
    fingerprint: str
    status_code: int
    body: str | None
    location: str | None
    fresh: bool  # created after the ``since`` the lookup was given


async def find(session: Session, account_id: int, key: str, since: dt.datetime) -> Stored | None:
    row = await session.fetchrow(_FIND, account_id, key, session.ts(since))
    if row is None:
        return None
    return Stored(row[0], row[1], row[2], row[3], bool(row[4]))


async def forget(session: Session, account_id: int, key: str) -> None:
    await session.execute(_FORGET, account_id, key)


async def sweep(session: Session, account_id: int, before: dt.datetime) -> None:
    """Forget the account's keys created before ``before``."""
    await session.execute(_SWEEP, account_id, session.ts(before))


async def claim(
    session: Session, account_id: int, key: str, fingerprint: str, now: dt.datetime
) -> None:
    await session.execute(_CLAIM, account_id, key, fingerprint, session.ts(now))


async def record(
    session: Session,
    account_id: int,
    key: str,
    *,
    status_code: int,
    body: str,
    location: str | None,
) -> None:
    await session.execute(_RECORD, account_id, key, status_code, body, location)
