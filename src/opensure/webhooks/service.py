"""Webhook endpoints: the rules of creating, showing, rotating and removing them, and
:func:`emit`, the one way to write an event (in the caller's transaction).

Secrets are shown once (at creation and rotation) and never returned by ``show``/``list``, so
they never reach the audit log. A URL is checked against request forgery
(``core.netcheck``) at creation; the dispatcher checks it again before every delivery.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.api.timestamps import format as ts
from opensure.core import netcheck
from opensure.core import webhooks as rules
from opensure.core.clock import utcnow
from opensure.core.errors import AdminError
from opensure.db.fast import SaSession, Session
from opensure.models.webhooks import URL_MAX
from opensure.stores import webhooks as outbox
from opensure.webhooks import repository as repo

LOG_SIZE = 20
# The event "Send a test event" writes: to one endpoint, whatever types it asked for.
TEST_EVENT = "webhook.test"


async def emit(
    conn: AsyncConnection | Session, account_id: int, event_type: str, data: dict[str, Any]
) -> list[str]:
    """Write event ``event_type`` with ``data`` (the object exactly as the API's GET returns
    it) for each of the account's endpoints that want it, in the caller's transaction; the
    ``webhook-id`` of each. An account without endpoints pays one indexed look-up."""
    session = SaSession(conn) if isinstance(conn, AsyncConnection) else conn
    return await outbox.emit(session, account_id, event_type, data)


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "url": row["url"],
        "events": "all" if row["events"] == rules.ALL else row["events"].split(","),
        "allow_private_network": bool(row["allow_private_network"]),
        "created_at": ts(row["created_at"]),
        "failing": row["failing_since"] is not None,
        "failing_since": ts(row["failing_since"]),
        "failure_reason": row["failure_reason"],
    }


async def create_endpoint(
    conn: AsyncConnection,
    account_id: int,
    *,
    url: str,
    events: str | None = None,
    allow_private_network: bool = False,
    resolve: netcheck.Resolver = netcheck.system_resolve,
) -> dict[str, Any]:
    """A new endpoint: ``{"id", "url", "secret", …}`` (the secret shown this once)."""
    url = url.strip()
    if len(url) > URL_MAX:
        raise AdminError(f"The URL is longer than {URL_MAX} characters.")
    try:
        stored_events = rules.parse_events(events)
        await netcheck.check(url, allow_private=allow_private_network, resolve=resolve)
    except ValueError as exc:  # UnsafeUrl is one
        raise AdminError(str(exc)) from None
    secret = rules.new_secret()
    endpoint_id = await repo.insert_endpoint(
        conn,
        {
            "account_id": account_id,
            "url": url,
            "events": stored_events,
            "secret": secret,
            "allow_private_network": allow_private_network,
            "created_at": utcnow(),
        },
    )
    found = await repo.endpoint(conn, endpoint_id)
    assert found is not None
    return {**_shown(found), "secret": secret}


async def list_endpoints(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    """The account's endpoints with their failing state (no secrets)."""
    return [_shown(row) for row in await repo.endpoints(conn, account_id)]


async def account_of(conn: AsyncConnection, endpoint_id: int) -> int:
    """The account an endpoint belongs to (AdminError if there is no such endpoint)."""
    return int((await _find(conn, endpoint_id, None))["account_id"])


async def _find(conn: AsyncConnection, endpoint_id: int, account_id: int | None) -> dict[str, Any]:
    found = await repo.endpoint(conn, endpoint_id)
    if found is None or (account_id is not None and found["account_id"] != account_id):
        raise AdminError(f"There is no webhook endpoint {endpoint_id}.")
    return found


async def show_endpoint(
    conn: AsyncConnection, account_id: int | None, endpoint_id: int
) -> dict[str, Any]:
    """An endpoint (no secret) with its events waiting and its latest delivery attempts."""
    found = await _find(conn, endpoint_id, account_id)
    log = await repo.deliveries(conn, endpoint_id, LOG_SIZE)
    return {
        **_shown(found),
        "pending_events": await repo.pending_count(conn, endpoint_id),
        "deliveries": [
            {
                "attempted_at": ts(d["attempted_at"]),
                "event_id": d["event_id"],
                "type": d["type"],
                "status_code": d["status_code"],
                "error": d["error"],
                "latency_ms": d["latency_ms"],
                "response": d["response_excerpt"],
            }
            for d in log
        ],
    }


async def remove_endpoint(
    conn: AsyncConnection, account_id: int | None, endpoint_id: int
) -> dict[str, Any]:
    """Remove an endpoint: nothing more is sent to it (its events waiting are dropped)."""
    found = await _find(conn, endpoint_id, account_id)
    now = utcnow()
    await repo.update_endpoint(conn, endpoint_id, {"removed_at": now})
    await repo.cancel_pending(conn, endpoint_id, now)
    return _shown(found)


async def rotate_secret(
    conn: AsyncConnection,
    account_id: int | None,
    endpoint_id: int,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A new secret (shown this once); the old one keeps signing beside it for 24 hours."""
    found = await _find(conn, endpoint_id, account_id)
    now = now or utcnow()
    secret = rules.new_secret()
    await repo.update_endpoint(
        conn,
        endpoint_id,
        {
            "secret": secret,
            "previous_secret": await repo.secret(conn, endpoint_id),
            "previous_secret_expires_at": now + rules.PREVIOUS_SECRET_VALID,
        },
    )
    return {
        **_shown(found),
        "secret": secret,
        "previous_secret_expires_at": ts(now + rules.PREVIOUS_SECRET_VALID),
    }


async def send_test(conn: AsyncConnection, account_id: int | None, endpoint_id: int) -> str:
    """Queue a ``webhook.test`` event for this endpoint alone, through the outbox (the
    dispatchers deliver it like any other); its ``webhook-id``."""
    found = await _find(conn, endpoint_id, account_id)
    data = {
        "endpoint_id": endpoint_id,
        "url": found["url"],
        "message": "A test event sent from OpenSure. It needs no action.",
    }
    ids = await outbox.insert(SaSession(conn), [(endpoint_id, TEST_EVENT, data)], utcnow())
    return ids[0]


async def redeliver(
    conn: AsyncConnection, account_id: int | None, endpoint_id: int, event_id: str
) -> dict[str, Any]:
    """Make one of the endpoint's events due now: a new attempt with the same ``webhook-id``
    and body (whether it was delivered, given up or still waiting)."""
    await _find(conn, endpoint_id, account_id)
    again = await repo.make_due(conn, endpoint_id, event_id, utcnow())
    if again is None:
        raise AdminError(f"Webhook endpoint {endpoint_id} has no event {event_id}.")
    return again
