"""Every query of the admin side: accounts, e-mail templates, staff and teams, segments."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.models import Account, EmailTemplate, Segment, Staff, Team

_accounts = Account.__table__


async def accounts_by_ref(conn: AsyncConnection, ref: str) -> list[dict[str, Any]]:
    """Accounts whose name is ``ref``, or whose id is ``ref`` when it is a number."""
    condition = _accounts.c.name == ref
    if ref.isdigit():
        condition = or_(condition, _accounts.c.id == int(ref))
    rows = (await conn.execute(select(_accounts).where(condition))).mappings().all()
    return [dict(r) for r in rows]


async def account_id_named(conn: AsyncConnection, name: str) -> int | None:
    row = (await conn.execute(select(_accounts.c.id).where(_accounts.c.name == name))).first()
    return None if row is None else int(row.id)


async def count_accounts(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(_accounts))).scalar_one())


async def insert_account(
    conn: AsyncConnection, *, name: str, min_interval_days: int, now: dt.datetime
) -> int:
    stmt = (
        insert(_accounts)
        .values(name=name, min_interval_days=min_interval_days, created_at=now)
        .returning(_accounts.c.id)
    )
    return int((await conn.execute(stmt)).scalar_one())


async def set_link_back_template(
    conn: AsyncConnection, account_id: int, template: str | None
) -> None:
    await conn.execute(
        update(_accounts).where(_accounts.c.id == account_id).values(link_back_template=template)
    )


async def insert_template(
    conn: AsyncConnection, *, account_id: int, name: str, subject: str, body: str, now: dt.datetime
) -> int:
    t = EmailTemplate.__table__
    stmt = (
        insert(t)
        .values(account_id=account_id, name=name, subject=subject, body=body, created_at=now)
        .returning(t.c.id)
    )
    return int((await conn.execute(stmt)).scalar_one())


async def team_id(conn: AsyncConnection, account_id: int, name: str) -> int:
    """The team of this name, created on first use."""
    t = Team.__table__
    found = (
        await conn.execute(select(t.c.id).where(t.c.account_id == account_id, t.c.name == name))
    ).first()
    if found:
        return int(found.id)
    stmt = insert(t).values(account_id=account_id, name=name).returning(t.c.id)
    return int((await conn.execute(stmt)).scalar_one())


async def insert_staff(
    conn: AsyncConnection, *, account_id: int, code: str, name: str, team_id: int | None
) -> int:
    """The new staff member's id (IntegrityError, in a savepoint, when the code is taken)."""
    s = Staff.__table__
    stmt = (
        insert(s)
        .values(account_id=account_id, code=code, name=name, team_id=team_id)
        .returning(s.c.id)
    )
    async with conn.begin_nested():
        return int((await conn.execute(stmt)).scalar_one())


async def insert_segment(conn: AsyncConnection, *, account_id: int, key: str) -> int:
    """The new segment's id (IntegrityError, in a savepoint, when the key is taken)."""
    s = Segment.__table__
    stmt = insert(s).values(account_id=account_id, key=key).returning(s.c.id)
    async with conn.begin_nested():
        return int((await conn.execute(stmt)).scalar_one())
