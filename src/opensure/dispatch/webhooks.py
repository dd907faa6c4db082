"""Webhook delivery (SPEC §9): claim due events from the outbox, POST them signed, record
each attempt.

Runs beside the e-mail loop wherever a dispatcher runs, in any number of processes: events are
claimed with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer), so each
is delivered by one dispatcher at a time, and a dispatcher that dies leaves its claims to the
others when the lease runs out. An attempt's result is committed after the POST: a crash in
between sends that event again, with the same ``webhook-id`` (at least once).

Before every attempt the endpoint's host is resolved and checked (``core.netcheck``; DNS can
change) and the request goes to the address checked, not to a fresh look-up (for https the
certificate is still checked against the host name). Redirects are not followed; an answer
other than 2xx within 15 s is retried on the schedule of ``core.webhooks.next_attempt``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from opensure.config import Settings
from opensure.core import netcheck
from opensure.core import webhooks as rules
from opensure.core.clock import utcnow
from opensure.db.fast import SaSession
from opensure.db.notify import EVENTS_CHANNEL, DueListener, local_events
from opensure.dispatch.recording import drain_queue
from opensure.stores import webhooks as outbox

log = logging.getLogger("opensure.dispatch.webhooks")

Clock = Callable[[], dt.datetime]
Sleep = Callable[[float], Awaitable[Any]]


# How many claimed events per poster may wait for the recorder's commit before claiming stops.
UNRECORDED_PER_POSTER = 16


class WebhookSender:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        lease_seconds: float = 60.0,
        concurrency: int = 8,
        interval: float = 1.0,
        owner: str | None = None,
        clock: Clock = utcnow,
        resolve: netcheck.Resolver = netcheck.system_resolve,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``lease_seconds``: how long a claim lasts (longer than an attempt's 15 s);
        ``concurrency``: attempts under way at once; ``interval``: seconds between an idle
        sender's looks for due events; ``resolve``/``transport`` are replaceable in tests."""
        self.engine = engine
        self.lease_seconds = lease_seconds
        self.concurrency = concurrency
        self.interval = interval
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.clock = clock
        self.resolve = resolve
        self.transport = transport
        self.database_url = engine.url.render_as_string(hide_password=False)
        self.wakeup = asyncio.Event()
        self.delivered = 0
        self.failed = 0

    @classmethod
    def from_settings(cls, engine: AsyncEngine, settings: Settings) -> WebhookSender:
        return cls(
            engine,
            lease_seconds=settings.webhook_lease_seconds,
            concurrency=settings.webhook_concurrency,
            interval=settings.dispatch_interval,
        )

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=rules.TIMEOUT_SECONDS,
            follow_redirects=False,
            transport=self.transport,
            limits=httpx.Limits(max_connections=self.concurrency),
            trust_env=False,  # never through a proxy the environment names
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set. An idle sender looks again every ``interval``, or at
        once when an event is written (``NOTIFY`` on PostgreSQL, in-process on SQLite)."""
        listener = DueListener(self.database_url, self.wakeup.set, channel=EVENTS_CHANNEL)
        unsubscribe = local_events.subscribe(self.wakeup.set)
        try:
            async with self._client() as client:
                await self._deliver(client, stop, listener)
        finally:
            unsubscribe()
            await listener.close()

    async def drain(self) -> int:
        """Attempt everything due now, once; how many attempts were made (for tests)."""
        async with self._client() as client:
            return await self._deliver(client, None, None)

    async def _deliver(
        self, client: httpx.AsyncClient, stop: asyncio.Event | None, listener: DueListener | None
    ) -> int:
        """The pipeline: ``concurrency`` posters take claimed events from a queue, a recorder
        writes finished attempts in one transaction each time it gets the chance (a group
        commit), and this loop claims more whenever fewer than two events per poster wait to be
        posted, so no poster waits for the slowest attempt of a round nor for the recorder's
        commit. Claimed events not yet recorded are capped (``UNRECORDED_PER_POSTER`` per
        poster): a recorder that falls behind holds the claims back. Without ``stop``, returns
        once nothing due is left (``drain``). How many events were claimed."""
        todo: asyncio.Queue[outbox.Due | None] = asyncio.Queue()
        done: asyncio.Queue[tuple[outbox.Due, outbox.Attempt] | None] = asyncio.Queue()
        room = asyncio.Event()  # set whenever an attempt ends or attempts are recorded
        to_post = 0  # claimed and not yet attempted
        unrecorded = 0  # claimed and not yet recorded
        claimed = 0

        async def post() -> None:
            nonlocal to_post
            while (event := await todo.get()) is not None:
                attempt = await self.attempt(client, event)
                to_post -= 1
                done.put_nowait((event, attempt))
                room.set()

        async def record() -> None:
            nonlocal unrecorded
            while (first := await done.get()) is not None:
                batch = [first]
                closing = False
                while not done.empty():
                    item = done.get_nowait()
                    if item is None:
                        closing = True
                        break
                    batch.append(item)
                try:
                    await self._record(batch)
                except Exception:
                    # Left claimed: another look after the lease delivers them again.
                    log.exception("recording %d webhook attempts failed", len(batch))
                unrecorded -= len(batch)
                room.set()
                if closing:
                    return

        posters = [asyncio.create_task(post()) for _ in range(self.concurrency)]
        recorder = asyncio.create_task(record())
        low, high = 2 * self.concurrency, 8 * self.concurrency
        cap = UNRECORDED_PER_POSTER * self.concurrency
        try:
            while stop is None or not stop.is_set():
                if listener is not None:
                    await listener.ensure()
                # Cleared before the claim: an event written during it wakes the next one.
                self.wakeup.clear()
                room.clear()
                want = min(high - to_post, cap - unrecorded)
                due: list[outbox.Due] = []
                if want > 0:
                    try:
                        due = await self._claim(want)
                    except Exception:
                        log.exception("claiming webhook events failed; retrying after a while")
                        want = -1  # wait for the interval, as when nothing is due
                for event in due:
                    todo.put_nowait(event)
                to_post += len(due)
                unrecorded += len(due)
                claimed += len(due)
                if want <= 0 or len(due) == want:
                    # More may be due: claim again once the posters (or the recorder) have room.
                    while (to_post > low or unrecorded >= cap) and not (stop and stop.is_set()):
                        await _first(room.wait(), stop.wait() if stop else None)
                        room.clear()
                    if want >= 0:
                        continue
                if stop is None:
                    if unrecorded == 0:
                        break
                    await room.wait()
                    continue
                await _first(stop.wait(), self.wakeup.wait(), asyncio.sleep(self.interval))
        finally:
            await self._wind_down(todo, done, posters, recorder)
        return claimed

    async def _wind_down(
        self,
        todo: asyncio.Queue[outbox.Due | None],
        done: asyncio.Queue[tuple[outbox.Due, outbox.Attempt] | None],
        posters: list[asyncio.Task[None]],
        recorder: asyncio.Task[None],
    ) -> None:
        """Give back events not yet started, let attempts under way finish and be recorded."""
        waiting = [e for e in drain_queue(todo) if e is not None]
        if waiting:
            with suppress(Exception):
                async with self.engine.begin() as conn:
                    await outbox.release(SaSession(conn), self.owner, [e.id for e in waiting])
        for _ in posters:
            todo.put_nowait(None)
        await asyncio.gather(*posters, return_exceptions=True)
        done.put_nowait(None)
        await asyncio.gather(recorder, return_exceptions=True)

    async def _claim(self, limit: int) -> list[outbox.Due]:
        now = self.clock()
        until = now + dt.timedelta(seconds=self.lease_seconds)
        async with self.engine.begin() as conn:
            return await outbox.claim(
                SaSession(conn), owner=self.owner, now=now, until=until, limit=limit
            )

    async def _record(self, attempts: list[tuple[outbox.Due, outbox.Attempt]]) -> None:
        """Attempts in one transaction (a commit per event cost more than the POST itself). A
        crash before it re-sends these events with their webhook-ids: at least once, as
        promised."""
        outcomes = [
            (event, attempt, None if attempt.delivered else self._next(event, attempt.at))
            for event, attempt in attempts
        ]
        async with self.engine.begin() as conn:
            await outbox.record(SaSession(conn), outcomes)
        for event, attempt, next_at in outcomes:
            if attempt.delivered:
                self.delivered += 1
                log.debug("webhook %s delivered (%s)", event.id, attempt.status_code)
            else:
                self.failed += 1
                when = "giving up" if next_at is None else f"retry at {next_at:%H:%M:%S}"
                log.info("webhook %s failed: %s; %s", event.id, attempt.reason(), when)

    def _next(self, event: outbox.Due, now: dt.datetime) -> dt.datetime | None:
        return rules.next_attempt(event.attempts + 1, event.created_at, now)

    async def attempt(self, client: httpx.AsyncClient, event: outbox.Due) -> outbox.Attempt:
        """POST one event (signed now) and say what came of it."""
        at = self.clock()
        started = time.perf_counter()

        def result(status: int | None, error: str | None, excerpt: str | None) -> outbox.Attempt:
            latency = int((time.perf_counter() - started) * 1000)
            return outbox.Attempt(at, status, error, latency, excerpt)

        try:
            target = await netcheck.check(
                event.url, allow_private=event.allow_private_network, resolve=self.resolve
            )
        except netcheck.UnsafeUrl as exc:
            return result(None, str(exc), None)
        url, extensions, host_header = _pinned(event.url, target)
        headers = rules.headers(event.secrets, event.id, at, event.body)
        if host_header:
            headers["host"] = host_header
        try:
            request = client.build_request(
                "POST", url, content=event.body.encode(), headers=headers, extensions=extensions
            )
            response = await client.send(request, stream=True)
            try:
                excerpt = await _excerpt(response)
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            return result(None, f"no answer within {rules.TIMEOUT_SECONDS:.0f} s", None)
        except httpx.HTTPError as exc:
            return result(None, f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc), None)
        return result(response.status_code, None, excerpt)


async def _first(*waits: Awaitable[Any] | None) -> None:
    """Wait until the first of ``waits`` is done (None entries are ignored)."""
    tasks = [asyncio.ensure_future(w) for w in waits if w is not None]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def _pinned(url: str, target: netcheck.Target) -> tuple[str, dict[str, Any], str | None]:
    """The URL with its host replaced by the address checked (so a DNS change between the
    check and the connection cannot redirect it), the ``sni_hostname`` extension that keeps
    TLS checking the name, and the Host header to send; unchanged for an address literal."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if _is_address(host) or parts.username is not None:
        # An address literal; or credentials in the URL: left as it is (checked just now).
        return url, {}, None
    address = target.addresses[0]
    shown = f"[{address}]" if ":" in address else address
    netloc = shown if parts.port is None else f"{shown}:{parts.port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    return pinned, extensions, host_header


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _excerpt(response: httpx.Response) -> str:
    """The first bytes of the answer (at most ``EXCERPT_BYTES``), read no further."""
    taken = b""
    async for chunk in response.aiter_raw():
        taken += chunk
        if len(taken) >= rules.EXCERPT_BYTES:
            break
    return taken[: rules.EXCERPT_BYTES].decode("utf-8", "replace")
