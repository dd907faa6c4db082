"""The ``idempotency_keys`` table (see :mod:`opensure.api.idempotency`): every query on it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from opensure.db.fast import Query, Session

# How long a key is kept (and its response replayed); older ones are swept.
KEEP = dt.timedelta(hours=24)

_FIND = Query(
    "SELECT fingerprint, status_code, body, location, created_at > $3 FROM idempotency_keys "
    "WHERE account_id = $1 AND key = $2"
)
_FORGET = Query("DELETE FROM idempotency_keys WHERE account_id = $1 AND key = $2")
# At most $2 expired keys a statement, so a large backlog is removed in short transactions;
# PostgreSQL skips rows another sweeper (or a request) holds instead of waiting on them.
_SWEEP = Query(
    "DELETE FROM idempotency_keys WHERE (account_id, key) IN ("
    "SELECT account_id, key FROM idempotency_keys WHERE created_at < $1 "
    "ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING created_at",
    "DELETE FROM idempotency_keys WHERE (account_id, key) IN ("
    "SELECT account_id, key FROM idempotency_keys WHERE created_at < ?1 "
    "ORDER BY created_at LIMIT ?2) RETURNING created_at",
)
_CLAIM = Query(
    "INSERT INTO idempotency_keys (account_id, key, fingerprint, created_at) "
    "VALUES ($1, $2, $3, $4)"
)
_RECORD = Query(
    "UPDATE idempotency_keys SET status_code = $3, body = $4, location = $5, "
    "feedback_request_id = $6 WHERE account_id = $1 AND key = $2"
)
_REWRITE = Query(
    "UPDATE idempotency_keys SET body = $3 WHERE account_id = $1 AND feedback_request_id = $2"
)
_GONE = Query(
    "UPDATE idempotency_keys SET status_code = $3, body = $4, location = NULL, "
    "feedback_request_id = NULL WHERE account_id = $1 AND feedback_request_id = $2"
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


async def sweep(session: Session, before: dt.datetime, limit: int) -> int:
    """Forget up to ``limit`` keys (of every account) created before ``before``; how many."""
    return len(await session.fetch(_SWEEP, session.ts(before), limit))


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
    feedback_request_id: int | None = None,
) -> None:
    await session.execute(
        _RECORD, account_id, key, status_code, body, location, feedback_request_id
    )


async def rewrite(session: Session, account_id: int, feedback_request_id: int, body: str) -> None:
    """Replace the body stored for the key that created this feedback request (status and
    Location stay): called in the transaction that erases the request, so a replay can never
    return what was erased."""
    await session.execute(_REWRITE, account_id, feedback_request_id, body)


async def gone(
    session: Session, account_id: int, feedback_request_id: int, *, status_code: int, body: str
) -> None:
    """The request this key created was deleted: a replay answers ``status_code`` and ``body``
    from now on. The key is unlinked too (on SQLite a later request may get the same id)."""
    await session.execute(_GONE, account_id, feedback_request_id, status_code, body)
