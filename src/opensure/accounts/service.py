"""Admin-side operations: accounts, API tokens, email templates, staff and teams, segments.

Used by the CLI. Each function takes an open transaction and only flushes; the caller commits.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.api.negotiation import hash_token
from opensure.db import utcnow
from opensure.models import Account, ApiToken, EmailTemplate, Segment, Staff, Team

TOKEN_PREFIX = "os_"


class AdminError(Exception):
    """A problem with what the operator asked for; the message is shown as it is."""


def new_token() -> str:
    # A recognisable prefix lets secret scanners find leaked tokens.
    return TOKEN_PREFIX + secrets.token_hex(20)


async def find_account(conn: AsyncConnection, ref: str) -> dict[str, Any]:
    """An account by id or by name."""
    a = Account.__table__
    condition = a.c.name == ref
    if ref.isdigit():
        condition = or_(condition, a.c.id == int(ref))
    rows = (await conn.execute(select(a).where(condition))).mappings().all()
    if not rows:
        raise AdminError(f"no account with id or name {ref!r}")
    exact = [r for r in rows if str(r["id"]) == ref] or list(rows)
    return dict(exact[0])


async def create_account(
    conn: AsyncConnection, name: str, min_interval_days: int = 0
) -> dict[str, Any]:
    name = name.strip()
    if not name:
        raise AdminError("the account name must not be empty")
    if min_interval_days < 0:
        raise AdminError("--min-interval-days must be 0 or more")
    a = Account.__table__
    exists = (await conn.execute(select(a.c.id).where(a.c.name == name))).first()
    if exists:
        raise AdminError(f"an account named {name!r} already exists (id {exists.id})")
    account_id = (
        await conn.execute(
            insert(a)
            .values(name=name, min_interval_days=min_interval_days, created_at=utcnow())
            .returning(a.c.id)
        )
    ).scalar_one()
    token = await create_token(conn, account_id)
    return {"id": account_id, "name": name, "token": token}


async def create_token(conn: AsyncConnection, account_id: int) -> str:
    token = new_token()
    await conn.execute(
        insert(ApiToken.__table__).values(
            account_id=account_id,
            token_hash=hash_token(token),
            prefix=token[:10],
            created_at=utcnow(),
        )
    )
    return token


async def revoke_token(conn: AsyncConnection, token: str) -> None:
    t = ApiToken.__table__
    result = await conn.execute(
        update(t)
        .where(t.c.token_hash == hash_token(token.strip()), t.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if result.rowcount == 0:
        raise AdminError("no active token matches")


async def create_template(
    conn: AsyncConnection, account_id: int, *, name: str, subject: str, body: str
) -> dict[str, Any]:
    if not name.strip() or not subject.strip() or not body.strip():
        raise AdminError("a template needs a non-empty name, subject and body")
    t = EmailTemplate.__table__
    template_id = (
        await conn.execute(
            insert(t)
            .values(
                account_id=account_id, name=name, subject=subject, body=body, created_at=utcnow()
            )
            .returning(t.c.id)
        )
    ).scalar_one()
    return {"id": template_id, "name": name, "subject": subject}


async def _team_id(conn: AsyncConnection, account_id: int, name: str) -> int:
    t = Team.__table__
    found = (
        await conn.execute(select(t.c.id).where(t.c.account_id == account_id, t.c.name == name))
    ).first()
    if found:
        return int(found.id)
    return int(
        (
            await conn.execute(insert(t).values(account_id=account_id, name=name).returning(t.c.id))
        ).scalar_one()
    )


async def create_staff(
    conn: AsyncConnection, account_id: int, *, code: str, name: str, team: str | None
) -> dict[str, Any]:
    code, name = code.strip(), name.strip()
    if not code or not name:
        raise AdminError("staff need a non-empty --code and --name")
    if len(code) > 100:
        raise AdminError("--code is longer than 100 characters")
    team_id = await _team_id(conn, account_id, team.strip()) if team and team.strip() else None
    s = Staff.__table__
    try:
        async with conn.begin_nested():
            staff_id = (
                await conn.execute(
                    insert(s)
                    .values(account_id=account_id, code=code, name=name, team_id=team_id)
                    .returning(s.c.id)
                )
            ).scalar_one()
    except IntegrityError:
        raise AdminError(f"staff code {code!r} is already taken in this account") from None
    return {"id": staff_id, "code": code, "name": name, "team": team or None, "team_id": team_id}


async def create_segment(conn: AsyncConnection, account_id: int, *, key: str) -> dict[str, Any]:
    key = key.strip()
    if not key or len(key) > 30:
        raise AdminError("a segment key is 1 to 30 characters (it is matched against data keys)")
    if key in ("staff_code", "site_code"):
        raise AdminError(f"{key!r} is reserved for linking staff and sites")
    s = Segment.__table__
    try:
        async with conn.begin_nested():
            segment_id = (
                await conn.execute(
                    insert(s).values(account_id=account_id, key=key).returning(s.c.id)
                )
            ).scalar_one()
    except IntegrityError:
        raise AdminError(f"segment {key!r} already exists in this account") from None
    return {"id": segment_id, "key": key}
