"""The dispatcher: claim due feedback requests, send their emails, record outcomes.

Runs inside ``opensure serve`` (embedded shape) or as ``opensure dispatcher`` (production).
One bad request never stops it: the problem is recorded on that request and it goes on.

Work goes through a pipeline: while the SMTP connections send one batch, the next batch is
claimed and loaded. A connection completes an email (the final dot of SMTP DATA) only once the
outcome of its previous one is committed; it sends the next envelope and content meanwhile.
The outcomes of all connections are committed together (``recording``): one transaction per
round of sends, not one per email.

Delivery guarantee: a request is claimed with a lease before its email is sent, and its
outcome is committed before that connection sends anything else. A process that dies after the
SMTP server accepted a message but before its outcome was committed leaves the request
pending; when the lease runs out it is sent again, with the same Message-ID. That window is the
only way an email can go out twice, and it holds at most one email per SMTP connection
(``OPENSURE_SMTP_CONNECTIONS``) of the process that died.

Which requests may be sent, and when to retry, is decided in ``rules``; the email is composed
in ``compose``; outcomes are counted and logged in ``outcomes``.

Reminders (docs/reminders.md): recording a request sent sets when its one reminder
is due, in the same statement. After the due first e-mails, each round claims the due reminders
by the same lease and sends them through the same pipeline, with the same guarantee; whether
one may still go (answered, unsubscribed, bounced, erased, survey removed) is checked when it is
claimed, a moment before it is sent.
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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from opensure.config import Settings
from opensure.core.clock import utcnow
from opensure.db import fast
from opensure.db.fast import PgSession
from opensure.db.notify import DueListener
from opensure.dispatch import compose, rules, verp
from opensure.dispatch import repository as repo
from opensure.dispatch.mail import (
    NotReady,
    PermanentFailure,
    Session,
    TemporaryFailure,
    Transport,
    transport_from_url,
)
from opensure.dispatch.outcomes import (
    NotSent,
    Outcome,
    ReminderDropped,
    ReminderSent,
    Sent,
    Stats,
    note,
)
from opensure.dispatch.recording import GroupCommit, drain_queue
from opensure.dispatch.render import EmailContent, RenderedEmail, TemplateProblem

log = logging.getLogger("opensure.dispatch")

Clock = Callable[[], dt.datetime]
Sleep = Callable[[float], Awaitable[Any]]

__all__ = ["Clock", "Dispatcher", "Sleep", "Stats"]


class OutcomeEvents(Protocol):
    """Writes the webhook events that outcomes cause, in their transaction (given by the
    wiring: the dispatcher knows no resource, and so not how a request is shown)."""

    async def wanted(self, session: fast.Session) -> bool:
        """Whether any event may be written (cheap: usually no statement at all)."""
        ...

    async def write(self, session: fast.Session, outcomes: Sequence[Outcome]) -> None: ...


@dataclass
class Batch:
    """Claimed requests with what their emails need, and the reasons not to send some."""

    ids: list[int]
    rows: list[Any]
    params: dict[int, list[tuple[str, str]]]
    now: dt.datetime
    send_until: dt.datetime
    reasons: dict[int, str]
    # Each survey's first question, by survey id (its e-mails show it when it is a Rating).
    first_questions: dict[int, Any]
    # Sent requests' reminders rather than first e-mails.
    reminder: bool = False


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        transport: Transport | None = None,
        owner: str | None = None,
        clock: Clock = utcnow,
        sleep: Sleep = asyncio.sleep,
        events: OutcomeEvents | None = None,
    ) -> None:
        """``clock`` gives the time the dispatcher claims, sends and retries by; ``sleep`` is
        how it waits between idle looks (both replaceable in tests); ``events`` writes the
        webhook events of recorded outcomes (none without it)."""
        self.events = events
        self.engine = engine
        self.settings = settings
        self.transport = transport or transport_from_url(settings.mail_url)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.clock = clock
        self.sleep = sleep
        self.stats = Stats()
        self.wakeup = asyncio.Event()
        self.retry_policy = rules.RetryPolicy(
            settings.retry_base_seconds, settings.retry_max_seconds, settings.retry_window_seconds
        )
        self.bounce_address = settings.bounce_address or None
        if self.bounce_address:
            verp.check_address(self.bounce_address)
        self._recording: GroupCommit | None = None
        self._recorder_conn: AsyncConnection | None = None
        self._recorder_raw: Any = None
        self._recorder_lite: fast.SqliteDirect | None = None

    @property
    def recording(self) -> GroupCommit:
        # Made on first use: it needs the running event loop.
        if self._recording is None:
            self._recording = GroupCommit(self._write)
        return self._recording

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
            try:
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
                        await self._close_recorder_conn()
                    await self._idle(stop)
            finally:
                await self._close_recorder_conn()
        log.info("dispatcher %s stopped", self.owner)

    async def _idle(self, stop: asyncio.Event) -> None:
        waiters = [
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self.wakeup.wait()),
            asyncio.ensure_future(self.sleep(self.settings.dispatch_interval)),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
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
            try:
                while True:
                    count = await self.run_round(pool, stop)
                    total += count
                    if count == 0:
                        return total
            finally:
                await self._close_recorder_conn()

    # ---- one batch ----

    async def run_round(self, pool: list[Session], stop: asyncio.Event) -> int:
        """Claim, send and record batch after batch until a claim comes back short (or
        ``stop``); return how many requests were claimed.

        The next batch is claimed and loaded while the current one is being sent."""
        size = self.settings.dispatch_batch_size
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
                await self._send_batch(batch, pool, stop, claim_ahead if full else None)
                batch = None
                if full and not stop.is_set():
                    claim_ahead()
                if ahead is not None:
                    batch, ahead = await ahead, None
                    if batch is not None and stop.is_set():
                        await self._release(batch.ids)
                        break
            total += await self._remind(pool, stop)
        finally:
            if ahead is not None:
                await self._abandon(ahead)
            await self.recording.flush()  # raises if recording failed
        return total

    async def _remind(self, pool: list[Session], stop: asyncio.Event) -> int:
        """Send the due reminders, batch after batch; how many were claimed. After the first
        e-mails: a request sent in this round is recorded (and so has its due time) first."""
        await self.recording.flush()
        total = 0
        while not stop.is_set():
            batch = await self._claim_batch(reminders=True)
            if batch is None:
                break
            total += len(batch.ids)
            await self._send_batch(batch, pool, stop)
            if len(batch.ids) < self.settings.dispatch_batch_size:
                break
        return total

    async def _claim_batch(self, *, reminders: bool = False) -> Batch | None:
        now = self.clock()
        until = now + dt.timedelta(seconds=self.settings.lease_seconds)
        async with self.engine.begin() as conn:
            ids = await repo.claim(
                conn,
                owner=self.owner,
                now=now,
                until=until,
                limit=self.settings.dispatch_batch_size,
                reminders=reminders,
            )
        if not ids:
            return None
        async with self.engine.connect() as conn:
            rows = await repo.load(conn, ids, reminders=reminders)
            params = await repo.query_params(conn, ids)
            first = await repo.first_questions(conn, {r.survey_id for r in rows})
            reasons = rules.no_reminder(rows) if reminders else rules.removed_or_erased(rows)
            pairs = [rules.address(r) for r in rules.to_check(rows, reasons)]
            gone = await repo.unsubscribed(conn, pairs)
            reasons.update(rules.unsubscribed(rows, reasons, gone))
            since = rules.bounce_window_start(now, self.settings.bounce_suppression_days)
            if since is not None:
                pairs = [rules.address(r) for r in rules.to_check(rows, reasons)]
                failed = await repo.recently_bounced(conn, pairs, since)
                reasons.update(rules.bounced(rows, reasons, failed))
        deadline = rules.send_deadline(now, self.settings.lease_seconds)
        return Batch(ids, rows, params, now, deadline, reasons, first, reminders)

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

    async def _recently_surveyed(self, batch: Batch) -> dict[int, str]:
        queries = rules.interval_queries(batch.rows, batch.reasons, batch.now)
        if not queries:
            return {}
        # Whether an address was surveyed recently is read from what is recorded: the batches
        # before this one must be recorded first.
        await self.recording.flush()
        recent: dict[int, set[str]] = {}
        async with self.engine.connect() as conn:
            for q in queries:
                recent[q.account_id] = await repo.recently_sent(
                    conn, q.account_id, q.emails, q.since
                )
        return rules.recently_surveyed(batch.rows, batch.reasons, recent)

    async def _send_batch(
        self,
        batch: Batch,
        pool: list[Session],
        stop: asyncio.Event,
        running_low: Callable[[], None] | None = None,
    ) -> None:
        """Send a batch over the pool's connections; ``running_low`` is called once when a
        quarter of the batch is left to send."""
        if not batch.reminder:
            # A reminder is not a new survey: the minimum interval does not hold it back.
            batch.reasons.update(await self._recently_surveyed(batch))
        queue: asyncio.Queue[Any] = asyncio.Queue()
        for row in batch.rows:
            reason = batch.reasons.get(row.id)
            if reason:
                outcome: Outcome = (
                    ReminderDropped(row.id, batch.now, reason)
                    if batch.reminder
                    else NotSent(row.id, batch.now, reason)
                )
                note(outcome, self.stats)
                self.recording.add(outcome)  # committed with the sends' outcomes
            else:
                queue.put_nowait(row)
        low = _LowWater(queue, self.settings.dispatch_batch_size // 4, running_low)
        workers = [
            asyncio.create_task(self._send_worker(session, queue, batch, stop, low))
            for session in pool[: max(1, min(len(pool), queue.qsize()))]
        ]
        try:
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            for task in workers:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    log.error("send worker failed: %r", task.exception())
            await self._release([row.id for row in drain_queue(queue)])

    async def _send_worker(
        self,
        session: Session,
        queue: asyncio.Queue[Any],
        batch: Batch,
        stop: asyncio.Event,
        low: _LowWater,
    ) -> None:
        # The previous email's outcome, being committed. The next email is not completed
        # before it is (its envelope and content go out meanwhile): a crash re-sends at most
        # the one email each connection had in flight.
        committed: asyncio.Future[None] | None = None
        try:
            while not queue.empty():
                if stop.is_set():
                    return  # graceful stop: what is left in the queue is released
                if not rules.may_start_send(self.clock(), batch.send_until):
                    # A slow batch must not outlive its lease: once the lease may run out
                    # before a send now started ends, another dispatcher could take the same
                    # request and both would send it. What is left is released and claimed
                    # afresh.
                    return
                row = queue.get_nowait()
                low.check()
                params = batch.params.get(row.id, [])
                question = batch.first_questions.get(row.survey_id)
                outcome, detail = await self._send_one(
                    session, row, params, committed, question, reminder=batch.reminder
                )
                note(outcome, self.stats, detail)
                committed = self.recording.add(outcome)
        finally:
            if committed is not None:
                await asyncio.shield(committed)

    def content_for(
        self,
        row: Any,
        params: Sequence[tuple[str, str]],
        question: Any = None,
        *,
        reminder: bool = False,
    ) -> EmailContent:
        """What goes into the email (or with ``reminder``, the reminder) for a loaded request
        (``repo.load``); ``question`` is its survey's first question (``repo.first_questions``),
        shown when it is a Rating."""
        return compose.content_for(
            row,
            params,
            base=self.settings.public_base,
            sender=self.settings.mail_from,
            question=question,
            reminder=reminder,
        )

    def envelope_sender(self, row: Any) -> str:
        """MAIL FROM: the request's own return path (``verp``) when OPENSURE_BOUNCE_ADDRESS is
        set, so that a bounce names its request; otherwise OPENSURE_MAIL_FROM."""
        if self.bounce_address is None:
            return self.settings.mail_from
        return verp.return_path(self.bounce_address, row.id, row.token)

    def message_for(self, row: Any, content: EmailContent) -> RenderedEmail:
        """The email itself, in the account's template or the default (TemplateProblem if
        the template cannot be rendered)."""
        return compose.message_for(row, content, sender=self.settings.mail_from)

    async def _send_one(
        self,
        session: Session,
        row: Any,
        params: Sequence[tuple[str, str]],
        ready: asyncio.Future[None] | None = None,
        question: Any = None,
        *,
        reminder: bool = False,
    ) -> tuple[Outcome, str]:
        """Send one request's email (or its reminder) once ``ready`` is done; its outcome and a
        detail for the log (NotReady if ``ready`` failed: nothing was sent)."""
        content = self.content_for(row, params, question, reminder=reminder)
        now = self.clock()
        if reminder:
            return await self._remind_one(session, row, content, now, ready)
        try:
            message = self.message_for(row, content)
            await session.send(message, self.envelope_sender(row), content.to, ready)
        except NotReady:
            raise
        except TemplateProblem as exc:
            return NotSent(row.id, now, str(exc)), ""
        except PermanentFailure as exc:
            return Sent(row.id, now, str(exc)), ""
        except TemporaryFailure as exc:
            return self._retry(row, str(exc), now), ""
        except Exception as exc:  # a bug or odd data: record it on the request, keep going
            log.exception("request %s: unexpected error while sending", row.id)
            return self._retry(row, f"unexpected error: {exc!r}", now), ""
        return Sent(
            row.id, now, None, rules.reminder_due(now, row.reminder_days)
        ), content.message_id

    async def _remind_one(
        self,
        session: Session,
        row: Any,
        content: EmailContent,
        now: dt.datetime,
        ready: asyncio.Future[None] | None,
    ) -> tuple[Outcome, str]:
        """Send a request's one reminder. A permanent rejection leaves the first e-mail's
        ``delivery_failure`` as it is (the response rate counts the request once): there is
        simply no reminder."""
        try:
            message = self.message_for(row, content)
            await session.send(message, self.envelope_sender(row), content.to, ready)
        except NotReady:
            raise
        except (TemplateProblem, PermanentFailure) as exc:
            return ReminderDropped(row.id, now, str(exc)), ""
        except Exception as exc:  # temporary, or a bug or odd data: retried, then dropped
            if not isinstance(exc, TemporaryFailure):
                log.exception("request %s: unexpected error while sending its reminder", row.id)
            first_due = rules.reminder_due(row.sent_at, row.reminder_days) or row.reminder_due_at
            outcome = rules.reminder_after_temporary_failure(
                row.id, first_due=first_due, now=now, error=str(exc), policy=self.retry_policy
            )
            return outcome, ""
        return ReminderSent(row.id, now), content.message_id

    def _retry(self, row: Any, error: str, now: dt.datetime) -> Outcome:
        return rules.after_temporary_failure(
            row.id,
            attempts=row.attempts,
            first_failed_at=row.first_failed_at,
            now=now,
            error=error,
            policy=self.retry_policy,
            jitter=random.uniform(0.9, 1.1),
        )

    async def _write(self, outcomes: Sequence[Outcome]) -> None:
        # A group commit is on every SMTP connection's way to its next email, so its latency
        # counts: both engines record over a connection kept for it, on the bare driver.
        if self.engine.dialect.name == "sqlite":
            # Its own aiosqlite connection, in the process's write turn (db.engine.write_turn):
            # BEGIN IMMEDIATE, the statements and COMMIT, each one hop to its thread, instead of
            # SQLAlchemy's greenlet, compiled cache and result processing around each. (Like
            # the API's fast path, it needs a database file: an in-memory one is per connection.)
            if self._recorder_lite is None:
                self._recorder_lite = fast.SqliteDirect(str(self.engine.url.database), readers=0)
            try:
                async with self._recorder_lite.transaction() as own:
                    await repo.record(own, outcomes)
                    if self.events is not None and await self.events.wanted(own):
                        await self.events.write(own, outcomes)
            except BaseException:
                await self._close_recorder_conn()
                raise
            return
        # PostgreSQL: a connection of the engine's pool, kept, used on the bare driver (asyncpg).
        if self._recorder_conn is None:
            conn = await self.engine.connect()
            try:
                raw = await conn.get_raw_connection()
            except BaseException:
                await conn.close()
                raise
            self._recorder_conn, self._recorder_raw = conn, raw.driver_connection
        try:
            session = PgSession(self._recorder_raw)
            events = self.events if self.events and await self.events.wanted(session) else None
            if repo.kinds(outcomes) == 1 and events is None:
                # One executemany is atomic on its own: no BEGIN/COMMIT round trips.
                await repo.record(session, outcomes)
            else:
                # Webhook events go in the outcomes' transaction: never one without the other.
                async with self._recorder_raw.transaction():
                    await repo.record(session, outcomes)
                    if events is not None:
                        await events.write(session, outcomes)
        except BaseException:
            await self._close_recorder_conn()
            raise

    async def _close_recorder_conn(self) -> None:
        conn, self._recorder_conn = self._recorder_conn, None
        if conn is not None:
            with suppress(Exception):
                await conn.close()
        lite, self._recorder_lite = self._recorder_lite, None
        if lite is not None:
            with suppress(Exception):
                await lite.close()


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
