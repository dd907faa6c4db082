"""The webhook outbox (``webhook_events``) and delivery log: every query on them, and the
subscription look-ups made when an event is written.

Events are written by the resources whose changes they report (a response saved, a request's
outcome recorded), in that change's transaction, through :func:`emit` or :func:`insert`; the
dispatcher claims, delivers and records them (``opensure.dispatch.webhooks``). Statements are
``db.fast`` queries, so they run on the bare drivers (the dispatcher's recording connection)
and inside a SQLAlchemy transaction (``SaSession``) alike.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opensure.core import webhooks as rules
from opensure.core.clock import utcnow
from opensure.db.fast import Query, Session, in_list, list_param
from opensure.db.notify import announce_events

_LIVE = "removed_at IS NULL AND disabled_at IS NULL"


def _with_list(sql: str, column: str, pg_type: str = "bigint") -> Query:
    """A query whose ``{in}`` is ``column`` in list parameter 1, spelled for both engines."""
    pg, lite = in_list(column, 1, pg_type)
    return Query(sql.replace("{in}", pg), re.sub(r"\$(\d+)", r"?\1", sql.replace("{in}", lite)))


# Served by ix_webhook_endpoints_account_id: an account without endpoints costs one index probe.
_ENDPOINTS_OF = Query(f"SELECT id, events FROM webhook_endpoints WHERE account_id = $1 AND {_LIVE}")
_ANY_ENDPOINT = Query(f"SELECT 1 FROM webhook_endpoints WHERE {_LIVE} LIMIT 1")
_ENDPOINTS_FOR_REQUESTS = _with_list(
    "SELECT fr.id, e.id, e.events FROM feedback_requests fr"
    " JOIN webhook_endpoints e ON e.account_id = fr.account_id"
    " WHERE e.removed_at IS NULL AND e.disabled_at IS NULL AND {in}",
    "fr.id",
)
_INSERT = Query(
    "INSERT INTO webhook_events (id, endpoint_id, type, body, created_at, next_attempt_at,"
    " attempts) VALUES ($1, $2, $3, $4, $5, $5, 0)"
)


async def subscribed(session: Session, account_id: int, event_type: str) -> list[int]:
    """The ids of the account's live endpoints that want ``event_type``."""
    rows = await session.fetch(_ENDPOINTS_OF, account_id)
    return [int(r[0]) for r in rows if rules.wants(str(r[1]), event_type)]


async def any_endpoint(session: Session) -> bool:
    """Whether any account has a live endpoint (the dispatcher's cheap first check)."""
    return await session.fetchrow(_ANY_ENDPOINT) is not None


async def endpoints_for_requests(
    session: Session, request_ids: Sequence[int]
) -> dict[int, list[tuple[int, str]]]:
    """For each of these requests whose account has live endpoints: (endpoint id, events)."""
    out: dict[int, list[tuple[int, str]]] = {}
    if request_ids:
        rows = await session.fetch(_ENDPOINTS_FOR_REQUESTS, list_param(session, request_ids))
        for request_id, endpoint_id, events in rows:
            out.setdefault(int(request_id), []).append((int(endpoint_id), str(events)))
    return out


async def insert(
    session: Session, events: Sequence[tuple[int, str, dict[str, Any]]], now: dt.datetime
) -> list[str]:
    """Write events (endpoint id, type, data) to the outbox, due at once; their ids."""
    rows = [
        (rules.new_event_id(), endpoint_id, event_type, rules.body(event_type, now, data))
        for endpoint_id, event_type, data in events
    ]
    if rows:
        await session.executemany(_INSERT, [(*r, session.ts(now)) for r in rows])
        await announce_events(session)
    return [r[0] for r in rows]


async def emit(
    session: Session,
    account_id: int,
    event_type: str,
    data: dict[str, Any],
    now: dt.datetime | None = None,
) -> list[str]:
    """Write one event for each of the account's endpoints that want it (nothing, after one
    indexed look-up, when none does); the ``webhook-id`` of each row written."""
    endpoints = await subscribed(session, account_id, event_type)
    if not endpoints:
        return []
    return await insert(session, [(e, event_type, data) for e in endpoints], now or utcnow())


# ---- delivery (the dispatcher) ----


@dataclass(frozen=True)
class Due:
    """A claimed event with what its delivery needs."""

    id: str
    endpoint_id: int
    body: str
    attempts: int
    created_at: dt.datetime
    url: str
    secrets: tuple[str, ...]  # the current secret, then the previous one while it is valid
    allow_private_network: bool


_DUE = "next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1)"
_SELECT_DUE = f"SELECT id FROM webhook_events WHERE {_DUE} ORDER BY next_attempt_at LIMIT $2"
_CANDIDATES = Query(
    _SELECT_DUE + " FOR UPDATE SKIP LOCKED",
    # SQLite: one writer at a time (BEGIN IMMEDIATE), nothing to skip.
    re.sub(r"\$(\d+)", r"?\1", _SELECT_DUE),
)
_CLAIM = _with_list(
    "UPDATE webhook_events SET claimed_by = $2, claimed_until = $3 WHERE {in}", "id", "text"
)
_LOAD = _with_list(
    "SELECT ev.id, ev.endpoint_id, ev.body, ev.attempts, ev.created_at, e.url, e.secret,"
    " CASE WHEN e.previous_secret_expires_at > $2 THEN e.previous_secret END,"
    " e.allow_private_network FROM webhook_events ev"
    " JOIN webhook_endpoints e ON e.id = ev.endpoint_id WHERE {in} AND ev.claimed_by = $3",
    "ev.id",
    "text",
)


def _datetime(value: Any) -> dt.datetime:
    if isinstance(value, str):  # SQLite's text, naive UTC
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def claim(
    session: Session, *, owner: str, now: dt.datetime, until: dt.datetime, limit: int
) -> list[Due]:
    """Lease up to ``limit`` due events (run inside a transaction): rows another dispatcher
    is claiming are skipped on PostgreSQL; SQLite has one writer."""
    ids = [str(r[0]) for r in await session.fetch(_CANDIDATES, session.ts(now), limit)]
    if not ids:
        return []
    listed = list_param(session, ids)
    await session.execute(_CLAIM, listed, owner, session.ts(until))
    rows = await session.fetch(_LOAD, listed, session.ts(now), owner)
    return [
        Due(
            id=str(r[0]),
            endpoint_id=int(r[1]),
            body=str(r[2]),
            attempts=int(r[3]),
            created_at=_datetime(r[4]),
            url=str(r[5]),
            secrets=(str(r[6]),) + ((str(r[7]),) if r[7] else ()),
            allow_private_network=bool(r[8]),
        )
        for r in rows
    ]


_LOG = Query(
    "INSERT INTO webhook_deliveries (event_id, attempted_at, status_code, error, latency_ms,"
    " response_excerpt) VALUES ($1, $2, $3, $4, $5, $6)"
)
_OPEN = "delivered_at IS NULL AND given_up_at IS NULL"
_FREE = "claimed_by = NULL, claimed_until = NULL, attempts = attempts + 1"
_DELIVERED = Query(
    f"UPDATE webhook_events SET delivered_at = $2, next_attempt_at = NULL, {_FREE}"
    f" WHERE id = $1 AND {_OPEN}"
)
_RETRY = Query(f"UPDATE webhook_events SET next_attempt_at = $2, {_FREE} WHERE id = $1 AND {_OPEN}")
_GIVEN_UP = Query(
    f"UPDATE webhook_events SET given_up_at = $2, next_attempt_at = NULL, {_FREE}"
    f" WHERE id = $1 AND {_OPEN}"
)
_HEALTHY = Query(
    "UPDATE webhook_endpoints SET failing_since = NULL, failure_reason = NULL"
    " WHERE id = $1 AND failing_since IS NOT NULL"
)
_FAILING = Query(
    "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2),"
    " failure_reason = $3 WHERE id = $1"
)


@dataclass(frozen=True)
class Attempt:
    """What one delivery attempt gave."""

    at: dt.datetime
    status_code: int | None
    error: str | None
    latency_ms: int
    excerpt: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def reason(self) -> str:
        return self.error or f"HTTP {self.status_code}"


async def record(
    session: Session, attempts: Sequence[tuple[Due, Attempt, dt.datetime | None]]
) -> None:
    """Log attempts and their consequences (run inside a transaction): each is delivered; due
    again at its ``next_at``; or, with neither, given up and its endpoint marked failing. One
    ``executemany`` per statement, whatever the number of attempts."""
    logged, delivered, retried = [], [], []
    healthy: set[int] = set()
    for due, attempt, next_at in attempts:
        ts = session.ts(attempt.at)
        error = None if attempt.error is None else attempt.error[:500]
        logged.append((due.id, ts, attempt.status_code, error, attempt.latency_ms, attempt.excerpt))
        if attempt.delivered:
            delivered.append((due.id, ts))
            healthy.add(due.endpoint_id)
        elif next_at is not None:
            retried.append((due.id, session.ts(next_at)))
    for query, rows in (
        (_LOG, logged),
        (_DELIVERED, delivered),
        (_HEALTHY, [(e,) for e in sorted(healthy)]),
        (_RETRY, retried),
    ):
        if rows:
            await session.executemany(query, rows)
    for due, attempt, next_at in attempts:
        if not attempt.delivered and next_at is None:
            ts = session.ts(attempt.at)
            await session.execute(_GIVEN_UP, due.id, ts)
            reason = (
                f"Gave up on event {due.id} after {due.attempts + 1} attempts: {attempt.reason()}"
            )
            await session.execute(_FAILING, due.endpoint_id, ts, reason[:500])


_RELEASE = _with_list(
    "UPDATE webhook_events SET claimed_by = NULL, claimed_until = NULL"
    " WHERE {in} AND claimed_by = $2",
    "id",
    "text",
)


async def release(session: Session, owner: str, ids: Sequence[str]) -> None:
    """Give claimed events back (graceful stop)."""
    if ids:
        await session.execute(_RELEASE, list_param(session, ids), owner)
