"""Every query of the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.models import AuditEvent

_events = AuditEvent.__table__


async def insert_event(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(_events).values(**values))


async def page(
    conn: AsyncConnection,
    account_id: int,
    *,
    before_id: int | None,
    limit: int,
    subject_type: str | None = None,
) -> list[dict[str, Any]]:
    """The account's events, newest first, below ``before_id`` (a keyset cursor)."""
    stmt = select(_events).where(_events.c.account_id == account_id)
    if before_id is not None:
        stmt = stmt.where(_events.c.id < before_id)
    if subject_type is not None:
        stmt = stmt.where(_events.c.subject_type == subject_type)
    stmt = stmt.order_by(_events.c.id.desc()).limit(limit)
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def subject_types(conn: AsyncConnection, account_id: int) -> list[str]:
    """The kinds of object the account's events are about, alphabetically."""
    stmt = (
        select(_events.c.subject_type)
        .where(_events.c.account_id == account_id)
        .distinct()
        .order_by(_events.c.subject_type)
    )
    return [str(t) for t in (await conn.execute(stmt)).scalars()]
