"""Idempotent creates: the ``Idempotency-Key`` header on POST (the Stripe convention).

A retry with the same key and the same body gets the first response again (with
``Idempotent-Replayed: true``) and creates nothing; the same key with another body is a 422.
Keys are per account and kept 24 hours. The key is stored in the same transaction as what
the request created, so either both exist or neither does; two requests racing with one key
are serialised by its primary key, and the loser replays the winner's response.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import asyncpg
import orjson
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response

from opensure.api.deps import transaction
from opensure.api.errors import JSON_TYPE, ApiError, field_error
from opensure.db import utcnow
from opensure.direct import Query, SaSession, Session

HEADER = "idempotency-key"
KEEP = dt.timedelta(hours=24)
MAX_KEY_LENGTH = 255

S = TypeVar("S", bound=Session)
Work = Callable[[S], Awaitable[Response]]
Begin = Callable[[], AbstractAsyncContextManager[S]]
# A second request with the same key committed first (its primary key): on any driver.
DUPLICATE = (IntegrityError, asyncpg.UniqueViolationError, sqlite3.IntegrityError)

_FIND = Query(
    "SELECT fingerprint, status_code, body, location, created_at > $3 FROM idempotency_keys "
    "WHERE account_id = $1 AND key = $2"
)
_FORGET = Query("DELETE FROM idempotency_keys WHERE account_id = $1 AND key = $2")
_FORGET_EXPIRED = Query("DELETE FROM idempotency_keys WHERE account_id = $1 AND created_at < $2")
_CLAIM = Query(
    "INSERT INTO idempotency_keys (account_id, key, fingerprint, created_at) "
    "VALUES ($1, $2, $3, $4)"
)
_RECORD = Query(
    "UPDATE idempotency_keys SET status_code = $3, body = $4, location = $5 "
    "WHERE account_id = $1 AND key = $2"
)


def fingerprint(request: Request, body: dict[str, Any]) -> str:
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + canonical).hexdigest()


def orm_transaction(request: Request) -> Begin[SaSession]:
    """``begin`` for endpoints whose work runs on SQLAlchemy: the session's ``conn``."""

    @asynccontextmanager
    async def begin() -> AsyncIterator[SaSession]:
        async with transaction(request) as conn:
            yield SaSession(conn)

    return begin


def _replay(row: Any) -> Response:
    headers = {"Idempotent-Replayed": "true"}
    if row[3]:
        headers["Location"] = row[3]
    return Response(row[2] or "", row[1], headers, media_type=JSON_TYPE)


async def create(
    request: Request, account_id: int, body: dict[str, Any], work: Work[S], begin: Begin[S]
) -> Response:
    """Run ``work`` in a transaction, once per Idempotency-Key when the client sends one."""
    key = request.headers.get(HEADER)
    if key is None:
        async with begin() as session:
            return await work(session)
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(
            "Validation error",
            status_code=422,
            errors=[
                field_error(
                    request.url.path,
                    "Idempotency-Key",
                    "wrong_length" if key.isprintable() else "invalid_format",
                    {"minimum": "1", "maximum": str(MAX_KEY_LENGTH)},
                )
            ],
        )
    digest = fingerprint(request, body)
    for attempt in range(2):
        try:
            async with begin() as session:
                return await _run_once(session, request, account_id, key, digest, work)
        except DUPLICATE:
            # Another request with this key committed first: answer with its response.
            if attempt:
                raise
    raise AssertionError("unreachable")


async def _run_once(
    session: S, request: Request, account_id: int, key: str, digest: str, work: Work[S]
) -> Response:
    now = utcnow()
    found = await session.fetchrow(_FIND, account_id, key, session.ts(now - KEEP))
    if found is not None and found[4]:
        if found[0] != digest:
            raise ApiError(
                "Validation error",
                status_code=422,
                errors=[
                    field_error(
                        request.url.path,
                        "Idempotency-Key",
                        "custom",
                        {
                            "message": "this key was used with a different request in the last "
                            "24 hours; use a new key for a new request"
                        },
                    )
                ],
            )
        return _replay(found)
    if found is not None:
        await session.execute(_FORGET, account_id, key)
    # Once in a while, forget this account's expired keys.
    if now.second == 0:
        await session.execute(_FORGET_EXPIRED, account_id, session.ts(now - KEEP))
    await session.execute(_CLAIM, account_id, key, digest, session.ts(now))
    response = await work(session)
    await session.execute(
        _RECORD,
        account_id,
        key,
        response.status_code,
        bytes(response.body).decode(),
        response.headers.get("location"),
    )
    return response
