"""Idempotent creates: the ``Idempotency-Key`` header on POST (the Stripe convention).

A retry with the same key and the same body gets the first response again (with
``Idempotent-Replayed: true``) and creates nothing; the same key with another body is a 422.
Keys are per account and kept 24 hours (then swept by :mod:`opensure.dispatch.housekeeping`).
A key that created a feedback request is linked to it: erasing the request rewrites the stored
response to the erased request, deleting a pending one makes it a 404 (docs/api.md). The key
is stored in the same transaction as what the request created, so either both exist or neither
does; two requests racing with one key are serialised by its primary key, and the loser replays
the winner's response.
"""

from __future__ import annotations

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
from opensure.core.clock import utcnow
from opensure.db.fast import SaSession, Session
from opensure.stores import idempotency as store

HEADER = "idempotency-key"
KEEP = store.KEEP
MAX_KEY_LENGTH = 255

S = TypeVar("S", bound=Session)
Work = Callable[[S], Awaitable[Response]]
Begin = Callable[[], AbstractAsyncContextManager[S]]
# A second request with the same key committed first (its primary key): on any driver.
DUPLICATE = (IntegrityError, asyncpg.UniqueViolationError, sqlite3.IntegrityError)


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


def _replay(found: store.Stored) -> Response:
    headers = {"Idempotent-Replayed": "true"}
    if found.location:
        headers["Location"] = found.location
    return Response(found.body or "", found.status_code, headers, media_type=JSON_TYPE)


async def create(
    request: Request,
    account_id: int,
    body: dict[str, Any],
    work: Work[S],
    begin: Begin[S],
    created_id: Callable[[], int | None] | None = None,
) -> Response:
    """Run ``work`` in a transaction, once per Idempotency-Key when the client sends one.

    ``created_id`` gives the id of the feedback request ``work`` created (None for anything
    else): it is stored with the key, so that erasing that request can rewrite the stored
    response (:func:`opensure.stores.idempotency.rewrite`).
    """
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
                return await _run_once(session, request, account_id, key, digest, work, created_id)
        except DUPLICATE:
            # Another request with this key committed first: answer with its response.
            if attempt:
                raise
    raise AssertionError("unreachable")


async def _run_once(
    session: S,
    request: Request,
    account_id: int,
    key: str,
    digest: str,
    work: Work[S],
    created_id: Callable[[], int | None] | None,
) -> Response:
    now = utcnow()
    found = await store.find(session, account_id, key, now - KEEP)
    if found is not None and found.fresh:
        if found.fingerprint != digest:
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
        await store.forget(session, account_id, key)
    # Expired keys of every account are swept by opensure.dispatch.housekeeping.
    await store.claim(session, account_id, key, digest, now)
    response = await work(session)
    await store.record(
        session,
        account_id,
        key,
        status_code=response.status_code,
        body=bytes(response.body).decode(),
        location=response.headers.get("location"),
        feedback_request_id=created_id() if created_id is not None else None,
    )
    return response
