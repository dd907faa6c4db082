"""Periodic clean-up run beside the dispatcher: expired Idempotency-Keys of every account, and
the jobs the wiring adds (``also``: ended console sessions and old sign-in failures).

Each process that runs a dispatcher (``opensure serve`` with its embedded one, ``opensure
dispatcher``) runs one :class:`Housekeeping`: soon after start, then every ``interval``
seconds, it deletes the keys older than 24 hours, at most ``chunk`` a transaction so that a
large backlog never holds the database's write lock for long. Several processes may sweep at
once: on PostgreSQL each skips the rows another one is deleting; SQLite takes turns anyway.
A failed sweep (the database away) is logged and tried again at the next interval.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from opensure.core.clock import utcnow
from opensure.db.fast import SaSession
from opensure.stores import idempotency as idempotency_store

log = logging.getLogger("opensure.dispatch.housekeeping")

INTERVAL = 600.0  # seconds between sweeps
FIRST_DELAY = 30.0  # seconds after start: not in the middle of the start-up burst
CHUNK = 1000  # keys deleted per transaction

# A further clean-up, run in a transaction of its own at each sweep with the sweep's time.
Job = Callable[[AsyncConnection, dt.datetime], Awaitable[None]]


class Housekeeping:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        interval: float | None = None,
        first_delay: float | None = None,
        chunk: int | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        also: Sequence[Job] = (),
    ) -> None:
        # None: the module's setting, read now (so a test can shorten it for a whole process).
        self.engine = engine
        self.interval = INTERVAL if interval is None else interval
        self.first_delay = FIRST_DELAY if first_delay is None else first_delay
        self.chunk = CHUNK if chunk is None else chunk
        self.clock = clock
        self.also = tuple(also)
        self.sweeps = 0  # sweeps completed (for tests and logs)

    async def sweep_expired_keys(self, stop: asyncio.Event | None = None) -> int:
        """Delete every key older than the 24 hours a key is kept; how many were deleted."""
        before = self.clock() - idempotency_store.KEEP
        total = 0
        while stop is None or not stop.is_set():
            async with self.engine.begin() as conn:
                deleted = await idempotency_store.sweep(SaSession(conn), before, self.chunk)
            total += deleted
            if deleted < self.chunk:
                break
            await asyncio.sleep(0)  # the lock is free: let waiting writers in between chunks
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep after ``first_delay``, then every ``interval`` seconds, until ``stop`` is set."""
        delay = self.first_delay
        while not await _stopped_within(stop, delay):
            try:
                deleted = await self.sweep_expired_keys(stop)
                for job in self.also:
                    async with self.engine.begin() as conn:
                        await job(conn, self.clock())
            except Exception:  # the database away, a lock timeout: next interval
                log.warning("housekeeping failed", exc_info=True)
            else:
                self.sweeps += 1
                if deleted:
                    log.info("swept %d expired idempotency keys", deleted)
            delay = self.interval


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
