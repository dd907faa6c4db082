"""The dispatcher: claim due feedback requests, render and send their emails, record outcomes.

Runs inside ``opensure serve`` (embedded shape) or as ``opensure dispatcher`` (production).
One bad request never stops it: the problem is recorded on that request and it goes on.

Work goes through a pipeline: while the SMTP connections send one batch, the next batch is
claimed and loaded, and outcomes are written every ``FLUSH_SECONDS`` by a task of their own,
so neither the connections nor the database wait for each other.

Delivery guarantee: a request is claimed with a lease before its email is sent and recorded
right after (outcomes are written in small groups, at most ``FLUSH_SECONDS`` apart). A process
that dies after the SMTP server accepted a message but before recording it leaves the request
pending; when the lease runs out it is sent again, with the same Message-ID. That window is
the only way an email can go out twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlencode

from sqlalchemy.ext.asyncio import AsyncEngine

from opensure.config import Settings
from opensure.core.clock import utcnow
from opensure.db.notify import DueListener
from opensure.dispatch import repository as repo
from opensure.dispatch.mail import (
    PermanentFailure,
    Session,
    TemporaryFailure,
    Transport,
    transport_from_url,
)
from opensure.dispatch.render import (
    EmailContent,
    RenderedEmail,
    TemplateProblem,
    build_message,
    delivery_address,
    message_id,
)
from opensure.telemetry import EMAILS

log = logging.getLogger("opensure.dispatch")

FLUSH_SECONDS = 0.1


@dataclass
class Outcomes:
    sent: list[dict[str, Any]] = field(default_factory=list)
    not_sent: list[dict[str, Any]] = field(default_factory=list)
    deferred: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sent) + len(self.not_sent) + len(self.deferred)

    def take(self) -> Outcomes:
        taken = Outcomes(self.sent, self.not_sent, self.deferred)
        self.sent, self.not_sent, self.deferred = [], [], []
        return taken


@dataclass
class Batch:
    """Claimed requests with what their emails need, and the reasons not to send some."""

    ids: list[int]
    rows: list[Any]
    params: dict[int, list[tuple[str, str]]]
    now: dt.datetime
    send_until: dt.datetime
    reasons: dict[int, str]


@dataclass
class Stats:
    sent: int = 0
    failed: int = 0
    not_sent: int = 0
    deferred: int = 0


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        transport: Transport | None = None,
        owner: str | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.transport = transport or transport_from_url(settings.mail_url)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stats = Stats()
        self.wakeup = asyncio.Event()
        self._stopping = False

    # ---- the loop ----

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until ``stop`` is set; an idle dispatcher looks again every interval."""
        log.info("dispatcher %s started", self.owner)
        listener = DueListener(self.settings.database_url, self.wakeup.set)
        # The listener is not on the sessions' stack: closing idle SMTP connections must not
        # stop the LISTEN, or the dispatcher would sleep through notifications until its poll.
        async with AsyncExitStack() as sessions, _closing(listener):
            pool: list[Session] = []
            last_work = time.monotonic()
            while not stop.is_set():
                await listener.ensure()
                # Cleared before the claim, not when going idle: a notification that arrives
                # during this round is for work the claim may not have seen.
                self.wakeup.clear()
                try:
                    if not pool:
                        pool = [
                            await sessions.enter_async_context(self.transport.session())
                            for _ in range(self.settings.smtp_connections)
                        ]
                    count = await self.run_round(pool, stop)
                except Exception:
                    log.exception("dispatch round failed; retrying after the interval")
                    count = 0
                # A round ends when a claim came back short: everything due has been handled.
                if count:
                    last_work = time.monotonic()
                elif pool and time.monotonic() - last_work >= self.settings.smtp_idle_seconds:
                    # Idle for a while: close connections rather than hold them open. Not at
                    # once: a trickle of requests would otherwise open (STARTTLS, AUTH) a
                    # connection for nearly every email.
                    await sessions.aclose()
                    pool = []
                await self._idle(stop)
        log.info("dispatcher %s stopped", self.owner)

    async def _idle(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wakeup.wait())]
        try:
            await asyncio.wait(
                waiters,
                timeout=self.settings.dispatch_interval,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for w in waiters:
                w.cancel()

    async def drain(self) -> int:
        """Send everything due now, then return how many requests were handled (for tests)."""
        total = 0
        stop = asyncio.Event()
        async with AsyncExitStack() as sessions:
            pool: list[Session] = [
                await sessions.enter_async_context(self.transport.session())
                for _ in range(self.settings.smtp_connections)
            ]
            while True:
                count = await self.run_round(pool, stop)
                total += count
                if count == 0:
                    return total

    # ---- one batch ----

    @property
    def _send_window(self) -> dt.timedelta:
        """How long after its claim a batch may start new sends: half the lease, so that a
        send started in time has the other half to finish before anyone else may claim."""
        return dt.timedelta(seconds=self.settings.lease_seconds / 2)

    async def run_round(self, pool: list[Session], stop: asyncio.Event) -> int:
        """Claim, send and record batch after batch until a claim comes back short (or
        ``stop``); return how many requests were claimed.

        The next batch is claimed and loaded while the current one is being sent, and outcomes
        are recorded by a task of their own every FLUSH_SECONDS."""
        size = self.settings.dispatch_batch_size
        outcomes = Outcomes()
        recording = asyncio.Lock()
        done = asyncio.Event()
        recorder = asyncio.create_task(self._record_every(outcomes, recording, done))
        total = 0
        ahead: asyncio.Task[Batch | None] | None = None

        def claim_ahead() -> None:
            nonlocal ahead
            if ahead is None and not stop.is_set():
                ahead = asyncio.create_task(self._claim_batch())

        try:
            batch = await self._claim_batch()
            while batch is not None:
                total += len(batch.ids)
                full = len(batch.ids) >= size
                # The next batch is claimed when this one's queue runs low, not at once: its
                # send window starts with its claim.
                await self._send_batch(
                    batch, pool, outcomes, recording, stop, claim_ahead if full else None
                )
                if recorder.done():
                    break  # recording failed: the error is raised below
                batch = None
                if full and not stop.is_set():
                    claim_ahead()
                if ahead is not None:
                    batch, ahead = await ahead, None
                    if batch is not None and stop.is_set():
                        await self._release(batch.ids)
                        break
        finally:
            if ahead is not None:
                await self._abandon(ahead)
            done.set()
            try:
                await recorder  # raises if recording failed
            finally:
                async with recording:
                    await self._flush(outcomes)
        return total

    async def _claim_batch(self) -> Batch | None:
        now = utcnow()
        until = now + dt.timedelta(seconds=self.settings.lease_seconds)
        async with self.engine.begin() as conn:
            ids = await repo.claim(
                conn,
                owner=self.owner,
                now=now,
                until=until,
                limit=self.settings.dispatch_batch_size,
            )
        if not ids:
            return None
        async with self.engine.connect() as conn:
            rows = await repo.load(conn, ids)
            params = await repo.query_params(conn, ids)
            reasons = await self._not_sendable(conn, rows, now, interval=False)
        return Batch(ids, rows, params, now, now + self._send_window, reasons)

    async def _abandon(self, task: asyncio.Task[Batch | None]) -> None:
        """A batch claimed ahead that will not be sent now: give it back."""
        try:
            batch = await task
            if batch is not None:
                await self._release(batch.ids)
        except Exception:
            log.exception("claiming the next batch failed")

    async def _release(self, ids: list[int]) -> None:
        if ids:
            async with self.engine.begin() as conn:
                await repo.release(conn, self.owner, ids)

    async def _send_batch(
        self,
        batch: Batch,
        pool: list[Session],
        outcomes: Outcomes,
        recording: asyncio.Lock,
        stop: asyncio.Event,
        running_low: Callable[[], None] | None = None,
    ) -> None:
        """Send a batch over the pool's connections; ``running_low`` is called once when a
        quarter of the batch is left to send."""
        if any(row.min_interval_days for row in batch.rows if row.id not in batch.reasons):
            # Whether an address was surveyed recently is read from what is recorded: the
            # batches before this one must be recorded first.
            async with recording:
                await self._flush(outcomes)
            async with self.engine.connect() as conn:
                batch.reasons.update(
                    await self._recently_surveyed(conn, batch.rows, batch.reasons, batch.now)
                )
        queue: asyncio.Queue[Any] = asyncio.Queue()
        for row in batch.rows:
            reason = batch.reasons.get(row.id)
            if reason:
                outcomes.not_sent.append({"b_id": row.id, "b_now": batch.now, "b_reason": reason})
                self._log_outcome(row.id, "not sent", reason)
            else:
                queue.put_nowait(row)
        low = _LowWater(queue, self.settings.dispatch_batch_size // 4, running_low)
        workers = [
            asyncio.create_task(
                self._send_worker(
                    session, queue, batch.params, outcomes, stop, batch.send_until, low
                )
            )
            for session in pool[: max(1, min(len(pool), queue.qsize()))]
        ]
        try:
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            for task in workers:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    log.error("send worker failed: %r", task.exception())
            await self._release([row.id for row in self._drain_queue(queue)])

    async def _record_every(
        self, outcomes: Outcomes, recording: asyncio.Lock, done: asyncio.Event
    ) -> None:
        while not done.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), FLUSH_SECONDS)
            async with recording:
                await self._flush(outcomes)

    @staticmethod
    def _drain_queue(queue: asyncio.Queue[Any]) -> list[Any]:
        rows = []
        while not queue.empty():
            rows.append(queue.get_nowait())
        return rows

    async def _not_sendable(
        self, conn: Any, rows: list[Any], now: dt.datetime, *, interval: bool = True
    ) -> dict[int, str]:
        """Reasons not to send, found for the whole batch with a query or two."""
        reasons: dict[int, str] = {}
        for row in rows:
            if row.survey_deleted_at is not None:
                reasons[row.id] = "survey removed"
            elif not row.email:
                reasons[row.id] = "recipient's personal data was erased"
        pairs = [(r.account_id, r.email.lower()) for r in rows if r.id not in reasons]
        gone = await repo.unsubscribed(conn, pairs)
        for row in rows:
            if row.id not in reasons and (row.account_id, row.email.lower()) in gone:
                reasons[row.id] = "recipient unsubscribed"
        if interval:
            reasons.update(await self._recently_surveyed(conn, rows, reasons, now))
        return reasons

    async def _recently_surveyed(
        self, conn: Any, rows: list[Any], reasons: dict[int, str], now: dt.datetime
    ) -> dict[int, str]:
        """Requests to addresses surveyed within their account's minimum interval (one email
        per address per batch, too)."""
        found: dict[int, str] = {}
        by_account: dict[int, list[Any]] = {}
        for row in rows:
            if row.id not in reasons and row.min_interval_days:
                by_account.setdefault(row.account_id, []).append(row)
        for account_id, account_rows in by_account.items():
            days = account_rows[0].min_interval_days
            since = now - dt.timedelta(days=days)
            recent = await repo.recently_sent(
                conn, account_id, [r.email.lower() for r in account_rows], since
            )
            for row in account_rows:
                address = row.email.lower()
                if address in recent:
                    found[row.id] = f"recipient surveyed within the last {days} days"
                else:
                    recent.add(address)  # one email per address per batch, too
        return found

    async def _send_worker(
        self,
        session: Session,
        queue: asyncio.Queue[Any],
        params: dict[int, list[tuple[str, str]]],
        outcomes: Outcomes,
        stop: asyncio.Event,
        send_until: dt.datetime,
        low: _LowWater,
    ) -> None:
        while not queue.empty():
            if stop.is_set():
                return  # graceful stop: what is left in the queue is released
            if utcnow() >= send_until:
                # A slow batch must not outlive its lease: once the lease may run out before
                # a send now started ends, another dispatcher could take the same request and
                # both would send it. What is left is released and claimed afresh.
                return
            row = queue.get_nowait()
            low.check()
            await self._send_one(session, row, params.get(row.id, []), outcomes)

    def content_for(self, row: Any, params: list[tuple[str, str]]) -> EmailContent:
        """What goes into the email for a loaded request (``repo.load``)."""
        base = self.settings.public_base
        # urlencode([("t", token), *params]), without its per-call overhead for the token.
        query = f"t={quote_plus(row.token)}"
        if params:
            query += "&" + urlencode(params)
        return EmailContent(
            to=delivery_address(row.email),
            to_name=" ".join(p for p in (row.first_name, row.surname) if p) or None,
            first_name=row.first_name,
            surname=row.surname,
            company=row.account_name,
            reference=row.reference,
            survey_link=f"{base}/s/{row.survey_code}?{query}",
            unsubscribe_link=f"{base}/u/{row.token}",
            message_id=message_id(row.id, row.token, self.settings.mail_from),
        )

    def message_for(self, row: Any, content: EmailContent) -> RenderedEmail:
        """The email itself, in the account's template or the default (TemplateProblem if
        the template cannot be rendered)."""
        return build_message(
            content,
            sender=self.settings.mail_from,
            subject_template=row.template_subject,
            body_template=row.template_body,
        )

    async def _send_one(
        self, session: Session, row: Any, params: list[tuple[str, str]], outcomes: Outcomes
    ) -> None:
        content = self.content_for(row, params)
        now = utcnow()
        try:
            message = self.message_for(row, content)
            await session.send(message, self.settings.mail_from, content.to)
        except TemplateProblem as exc:
            outcomes.not_sent.append({"b_id": row.id, "b_now": now, "b_reason": str(exc)})
            self._log_outcome(row.id, "not sent", str(exc))
        except PermanentFailure as exc:
            outcomes.sent.append({"b_id": row.id, "b_now": now, "b_failure": str(exc)})
            self.stats.failed += 1
            self._log_outcome(row.id, "delivery failed", str(exc))
        except TemporaryFailure as exc:
            self._defer(row, str(exc), now, outcomes)
        except Exception as exc:  # a bug or odd data: record it on the request, keep going
            log.exception("request %s: unexpected error while sending", row.id)
            self._defer(row, f"unexpected error: {exc!r}", now, outcomes)
        else:
            outcomes.sent.append({"b_id": row.id, "b_now": now, "b_failure": None})
            self.stats.sent += 1
            self._log_outcome(row.id, "sent", content.message_id)

    def _defer(self, row: Any, error: str, now: dt.datetime, outcomes: Outcomes) -> None:
        first = row.first_failed_at or now
        window = dt.timedelta(seconds=self.settings.retry_window_seconds)
        if now - first >= window:
            reason = f"delivery failed after retrying for {_human(window)}: {error}"
            outcomes.not_sent.append({"b_id": row.id, "b_now": now, "b_reason": reason})
            self._log_outcome(row.id, "not sent", reason)
            return
        delay = min(
            self.settings.retry_base_seconds * 2 ** min(row.attempts, 30),
            self.settings.retry_max_seconds,
        ) * random.uniform(0.9, 1.1)
        next_at = min(now + dt.timedelta(seconds=delay), first + window)
        outcomes.deferred.append(
            {"b_id": row.id, "b_now": now, "b_next": next_at, "b_failure": error}
        )
        self.stats.deferred += 1
        self._log_outcome(
            row.id, "deferred", f"attempt {row.attempts + 1}, retry in {delay:.0f}s: {error}"
        )

    async def _flush(self, outcomes: Outcomes) -> int:
        if not len(outcomes):
            return 0
        batch = outcomes.take()
        async with self.engine.begin() as conn:
            await repo.record(
                conn, sent=batch.sent, not_sent=batch.not_sent, deferred=batch.deferred
            )
        self.stats.not_sent += len(batch.not_sent)
        return len(batch)

    def _log_outcome(self, request_id: int, what: str, detail: str) -> None:
        counter = _COUNTERS.get(what)
        if counter is None:
            counter = _COUNTERS[what] = EMAILS.labels(what.replace(" ", "_"))
        counter.inc()
        log.info("request %s %s: %s", request_id, what, detail)


_COUNTERS: dict[str, Any] = {}


class _LowWater:
    """Calls ``callback`` once, the first time the queue holds ``level`` items or fewer."""

    def __init__(
        self, queue: asyncio.Queue[Any], level: int, callback: Callable[[], None] | None
    ) -> None:
        self.queue, self.level, self.callback = queue, level, callback
        self.check()

    def check(self) -> None:
        if self.callback is not None and self.queue.qsize() <= self.level:
            callback, self.callback = self.callback, None
            callback()


@asynccontextmanager
async def _closing(listener: DueListener) -> AsyncIterator[DueListener]:
    try:
        yield listener
    finally:
        await listener.close()


def _human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0 and seconds >= 3600:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{seconds} seconds"
