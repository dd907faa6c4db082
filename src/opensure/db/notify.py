"""Waking dispatchers when work becomes due, instead of waiting for their next poll.

On PostgreSQL a request created (or moved) to be due now sends ``NOTIFY opensure_due`` in
its transaction; every dispatcher LISTENs on a connection of its own and wakes at once.
Polling every OPENSURE_DISPATCH_INTERVAL stays as the fallback, so a lost notification or a
dropped listening connection only costs latency. In the embedded shape the API process wakes
its own dispatcher directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from opensure.db.engine import driver_dsn
from opensure.db.fast import Query, Session

CHANNEL = "opensure_due"
# Webhook events written (the outbox, ``opensure.stores.webhooks``): wakes the senders.
EVENTS_CHANNEL = "opensure_webhook_events"
log = logging.getLogger("opensure.dispatch")


_NOTIFY_DUE = Query(f"NOTIFY {CHANNEL}")
_NOTIFY_EVENTS = Query(f"NOTIFY {EVENTS_CHANNEL}")


class LocalWakeups:
    """Callbacks of this process to call when an event is written (SQLite, one process: the
    writer's transaction holds the write turn, so a sender woken now claims after its commit)."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on each event written; returns the function that stops it."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    def fire(self) -> None:
        for callback in list(self._callbacks):
            callback()


local_events = LocalWakeups()


async def announce_events(session: Session) -> None:
    """Tell webhook senders that events were written: ``NOTIFY`` on PostgreSQL (delivered at
    commit, to every process), the senders of this process on SQLite."""
    if session.dialect == "postgresql":
        await session.execute(_NOTIFY_EVENTS)
    else:
        local_events.fire()


async def announce_due(session: Session) -> None:
    """Tell listening dispatchers that a request is due (delivered at commit; PostgreSQL)."""
    if session.dialect == "postgresql":
        await session.execute(_NOTIFY_DUE)


class DueListener:
    """A LISTEN connection (on ``channel``) that calls ``on_due`` for each notification;
    reconnects lazily."""

    def __init__(
        self, database_url: str, on_due: Callable[[], None], *, channel: str = CHANNEL
    ) -> None:
        url = make_url(database_url)
        self.channel = channel
        self.enabled = url.get_backend_name() in ("postgresql", "postgres")
        self.dsn = driver_dsn(database_url)
        self.on_due = on_due
        self.conn: asyncpg.Connection | None = None

    def _notified(self, *_args: Any) -> None:
        self.on_due()

    async def ensure(self) -> None:
        if not self.enabled or (self.conn is not None and not self.conn.is_closed()):
            return
        try:
            self.conn = await asyncio.wait_for(asyncpg.connect(self.dsn), timeout=5)
            await self.conn.add_listener(self.channel, self._notified)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("cannot LISTEN for due requests (polling instead): %s", exc)
            self.conn = None
            return
        # Anything that became due while we were not listening is found by this wake-up.
        self.on_due()

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), timeout=5)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                conn.terminate()
