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
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from opensure.api.deps import transaction
from opensure.api.errors import JSON_TYPE, ApiError, field_error
from opensure.db import utcnow
from opensure.models import IdempotencyKey

HEADER = "idempotency-key"
KEEP = dt.timedelta(hours=24)
MAX_KEY_LENGTH = 255
keys = IdempotencyKey.__table__

Work = Callable[[AsyncConnection], Awaitable[Response]]


def fingerprint(request: Request, body: dict[str, Any]) -> str:
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + canonical).hexdigest()


def _replay(row: Any) -> Response:
    headers = {"Idempotent-Replayed": "true"}
    if row.location:
        headers["Location"] = row.location
    return Response(row.body or "", row.status_code, headers, media_type=JSON_TYPE)


async def create(request: Request, account_id: int, body: dict[str, Any], work: Work) -> Response:
    """Run ``work`` in a transaction, once per Idempotency-Key when the client sends one."""
    key = request.headers.get(HEADER)
    if key is None:
        async with transaction(request) as conn:
            return await work(conn)
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
            async with transaction(request) as conn:
                return await _run_once(conn, request, account_id, key, digest, work)
        except IntegrityError:
            # Another request with this key committed first: answer with its response.
            if attempt:
                raise
    raise AssertionError("unreachable")


async def _run_once(
    conn: AsyncConnection, request: Request, account_id: int, key: str, digest: str, work: Work
) -> Response:
    now = utcnow()
    where = (keys.c.account_id == account_id) & (keys.c.key == key)
    found = (await conn.execute(select(keys).where(where))).first()
    if found is not None and found.created_at > now - KEEP:
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
        await conn.execute(delete(keys).where(where))
    # Once in a while, forget this account's expired keys.
    if now.second == 0:
        await conn.execute(
            delete(keys).where(keys.c.account_id == account_id, keys.c.created_at < now - KEEP)
        )
    await conn.execute(
        insert(keys).values(account_id=account_id, key=key, fingerprint=digest, created_at=now)
    )
    response = await work(conn)
    await conn.execute(
        update(keys)
        .where(where)
        .values(
            status_code=response.status_code,
            body=bytes(response.body).decode(),
            location=response.headers.get("location"),
        )
    )
    return response
