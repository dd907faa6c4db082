"""Group commit of outcomes: every sender waits until its outcome is committed, and all the
outcomes that arrive while one transaction is being written go into the next one.

There is no timer: a flush starts as soon as the previous one has ended (or at once, when none
is running), so under load each transaction carries about one outcome per SMTP connection and
an idle dispatcher writes nothing. A connection does not start its next send before the
previous one's outcome is committed: a crash re-sends at most the one email each connection
had in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from opensure.dispatch.outcomes import Outcome

Write = Callable[[Sequence[Outcome]], Awaitable[None]]


class GroupCommit:
    def __init__(self, write: Write) -> None:
        self._write = write
        self._pending: list[Outcome] = []
        self._next: asyncio.Future[None] | None = None  # done when ``_pending`` is committed
        self._writing: asyncio.Future[None] | None = None  # the transaction being written
        self._task: asyncio.Task[None] | None = None

    def add(self, outcome: Outcome) -> asyncio.Future[None]:
        """Record ``outcome`` with the next transaction; a future done when it is committed
        (shared: await it through ``asyncio.shield``)."""
        self._pending.append(outcome)
        return self._start()

    async def record(self, outcome: Outcome) -> None:
        """Record ``outcome`` and wait until it is committed (the write's error if not)."""
        await asyncio.shield(self.add(outcome))

    async def flush(self) -> None:
        """Wait until everything added so far is committed (the write's error if not)."""
        waits = [f for f in (self._writing, self._start() if self._pending else None) if f]
        for waiting in waits:
            await asyncio.shield(waiting)

    def __len__(self) -> int:
        return len(self._pending)

    def _start(self) -> asyncio.Future[None]:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            # An error nobody waits for (only ``add``) is not "never retrieved": it is also
            # raised to the next ``flush``, from the outcomes kept for it.
            self._next.add_done_callback(_retrieve)
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        return self._next

    async def _run(self) -> None:
        try:
            while self._pending:
                batch, done = self._pending, self._next
                self._pending, self._next = [], None
                assert done is not None
                self._writing = done
                try:
                    await self._write(batch)
                except BaseException as exc:
                    # Kept for the next flush: the requests are still leased to us.
                    self._pending[:0] = batch
                    for waiting in (done, self._next):
                        if waiting is not None and not waiting.done():
                            if isinstance(exc, Exception):
                                waiting.set_exception(exc)
                            else:
                                waiting.cancel()
                    self._next = None
                    if isinstance(exc, Exception):
                        return
                    raise
                done.set_result(None)
        finally:
            self._task = None
            self._writing = None


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def drain_queue(queue: asyncio.Queue[Any]) -> list[Any]:
    """Everything in ``queue`` now, taken without waiting."""
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items
