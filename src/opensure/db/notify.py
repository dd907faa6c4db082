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
log = logging.getLogger("opensure.dispatch")


_NOTIFY_DUE = Query(f"NOTIFY {CHANNEL}")


async def announce_due(session: Session) -> None:
    """Tell listening dispatchers that a request is due (delivered at commit; PostgreSQL)."""
    if session.dialect == "postgresql":
        await session.execute(_NOTIFY_DUE)


class DueListener:
    """A LISTEN connection that calls ``on_due`` for each notification; reconnects lazily."""

    def __init__(self, database_url: str, on_due: Callable[[], None]) -> None:
        url = make_url(database_url)
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
            await self.conn.add_listener(CHANNEL, self._notified)
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
