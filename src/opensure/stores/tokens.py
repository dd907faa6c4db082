"""The ``api_tokens`` table: every query on it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from opensure.models import ApiToken

_t = ApiToken.__table__
_LOOKUP = select(_t.c.account_id, _t.c.token_hash).where(
    _t.c.token_hash == bindparam("digest"), _t.c.revoked_at.is_(None)
)


async def account_for(engine: AsyncEngine, digest: str) -> tuple[int, str] | None:
    """(account id, stored hash) of the active token with this hash."""
    async with engine.connect() as conn:
        row = (await conn.execute(_LOOKUP, {"digest": digest})).first()
    return None if row is None else (int(row.account_id), str(row.token_hash))


async def mark_used(engine: AsyncEngine, digests: list[str], now: dt.datetime) -> None:
    """Set ``last_used_at`` of the tokens with these hashes (one statement, its own
    transaction: the API's token cache calls it in the background)."""
    async with engine.begin() as conn:
        await conn.execute(update(_t).where(_t.c.token_hash.in_(digests)).values(last_used_at=now))


async def insert_token(
    conn: AsyncConnection, *, account_id: int, digest: str, prefix: str, now: dt.datetime
) -> None:
    await conn.execute(
        insert(_t).values(account_id=account_id, token_hash=digest, prefix=prefix, created_at=now)
    )


async def revoke(conn: AsyncConnection, digest: str, now: dt.datetime) -> dict[str, Any] | None:
    """Revoke the active token with this hash: its id, account_id and prefix, or None (no
    active token has this hash)."""
    result = await conn.execute(
        update(_t)
        .where(_t.c.token_hash == digest, _t.c.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(_t.c.id, _t.c.account_id, _t.c.prefix)
    )
    row = result.mappings().first()
    return None if row is None else dict(row)


async def exists(conn: AsyncConnection, digest: str) -> bool:
    """Whether a token with this hash was ever stored (revoked or not)."""
    return (
        await conn.execute(select(_t.c.id).where(_t.c.token_hash == digest))
    ).first() is not None


async def of_account(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    """The account's tokens (id, prefix, created_at, revoked_at, last_used_at), newest first;
    no hashes."""
    stmt = (
        select(_t.c.id, _t.c.prefix, _t.c.created_at, _t.c.revoked_at, _t.c.last_used_at)
        .where(_t.c.account_id == account_id)
        .order_by(_t.c.created_at.desc(), _t.c.id.desc())
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def revoke_id(conn: AsyncConnection, token_id: int, now: dt.datetime) -> None:
    await conn.execute(
        update(_t).where(_t.c.id == token_id, _t.c.revoked_at.is_(None)).values(revoked_at=now)
    )
