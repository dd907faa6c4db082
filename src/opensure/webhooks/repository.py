"""Every query on webhook endpoints and their delivery log (the outbox itself, written by the
resources and read by the dispatcher, is ``opensure.stores.webhooks``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

_e = WebhookEndpoint.__table__
_ev = WebhookEvent.__table__
_d = WebhookDelivery.__table__

# What may be shown: every column but the secrets.
_SHOWN = (
    _e.c.id,
    _e.c.account_id,
    _e.c.url,
    _e.c.events,
    _e.c.allow_private_network,
    _e.c.created_at,
    _e.c.failing_since,
    _e.c.failure_reason,
    _e.c.previous_secret_expires_at,
)


async def insert_endpoint(conn: AsyncConnection, values: dict[str, Any]) -> int:
    return int((await conn.execute(insert(_e).values(**values).returning(_e.c.id))).scalar_one())


async def endpoints(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    """The account's endpoints (not removed), oldest first."""
    stmt = (
        select(*_SHOWN)
        .where(_e.c.account_id == account_id, _e.c.removed_at.is_(None))
        .order_by(_e.c.id)
    )
    return [dict(r._mapping) for r in await conn.execute(stmt)]


async def endpoint(conn: AsyncConnection, endpoint_id: int) -> dict[str, Any] | None:
    """An endpoint that is not removed, with its account id."""
    stmt = select(*_SHOWN).where(_e.c.id == endpoint_id, _e.c.removed_at.is_(None))
    row = (await conn.execute(stmt)).first()
    return None if row is None else dict(row._mapping)


async def secret(conn: AsyncConnection, endpoint_id: int) -> str:
    return str((await conn.execute(select(_e.c.secret).where(_e.c.id == endpoint_id))).scalar())


async def update_endpoint(conn: AsyncConnection, endpoint_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(_e).where(_e.c.id == endpoint_id).values(**values))


async def cancel_pending(conn: AsyncConnection, endpoint_id: int, now: dt.datetime) -> None:
    """Stop delivering a removed endpoint's events: they count as given up."""
    await conn.execute(
        update(_ev)
        .where(_ev.c.endpoint_id == endpoint_id, _ev.c.next_attempt_at.is_not(None))
        .values(next_attempt_at=None, given_up_at=now)
    )


async def pending_count(conn: AsyncConnection, endpoint_id: int) -> int:
    stmt = select(func.count()).where(
        _ev.c.endpoint_id == endpoint_id, _ev.c.next_attempt_at.is_not(None)
    )
    return int((await conn.execute(stmt)).scalar_one())


async def deliveries(conn: AsyncConnection, endpoint_id: int, limit: int) -> list[dict[str, Any]]:
    """The endpoint's latest delivery attempts, newest first."""
    stmt = (
        select(
            _d.c.attempted_at,
            _ev.c.id.label("event_id"),
            _ev.c.type,
            _d.c.status_code,
            _d.c.error,
            _d.c.latency_ms,
            _d.c.response_excerpt,
        )
        .select_from(_d.join(_ev, and_(_ev.c.id == _d.c.event_id)))
        .where(_ev.c.endpoint_id == endpoint_id)
        .order_by(_d.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in await conn.execute(stmt)]


async def make_due(
    conn: AsyncConnection, endpoint_id: int, event_id: str, now: dt.datetime
) -> dict[str, Any] | None:
    """Make one of the endpoint's events due again now (same id, same body): its type, or
    None when the endpoint has no such event."""
    found = (
        await conn.execute(
            select(_ev.c.type).where(_ev.c.id == event_id, _ev.c.endpoint_id == endpoint_id)
        )
    ).first()
    if found is None:
        return None
    await conn.execute(
        update(_ev)
        .where(_ev.c.id == event_id)
        .values(next_attempt_at=now, delivered_at=None, given_up_at=None)
    )
    return {"id": event_id, "type": found.type}
