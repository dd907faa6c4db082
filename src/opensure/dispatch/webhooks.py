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
from opensure.stores import webhooks as outbox

log = logging.getLogger("opensure.dispatch.webhooks")

Clock = Callable[[], dt.datetime]
Sleep = Callable[[float], Awaitable[Any]]


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
        """Deliver until ``stop`` is set; an idle sender looks again every ``interval``."""
        async with self._client() as client:
            while not stop.is_set():
                try:
                    count = await self.run_once(client)
                except Exception:
                    log.exception("webhook round failed; retrying after the interval")
                    count = 0
                if not count:
                    with suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.interval)

    async def drain(self) -> int:
        """Attempt everything due now, once; how many attempts were made (for tests)."""
        total = 0
        async with self._client() as client:
            while count := await self.run_once(client):
                total += count
        return total

    async def run_once(self, client: httpx.AsyncClient) -> int:
        """Claim a batch of due events and attempt each; how many were claimed."""
        now = self.clock()
        until = now + dt.timedelta(seconds=self.lease_seconds)
        async with self.engine.begin() as conn:
            due = await outbox.claim(
                SaSession(conn), owner=self.owner, now=now, until=until, limit=self.concurrency * 4
            )
        if due:
            gate = asyncio.Semaphore(self.concurrency)

            async def one(event: outbox.Due) -> tuple[outbox.Due, outbox.Attempt]:
                async with gate:
                    return event, await self.attempt(client, event)

            await self._record(await asyncio.gather(*(one(event) for event in due)))
        return len(due)

    async def _record(self, attempts: list[tuple[outbox.Due, outbox.Attempt]]) -> None:
        """The round's attempts in one transaction (a commit per event cost more than the
        POST itself). A crash before it re-sends the round's events with their webhook-ids:
        at least once, as promised."""
        async with self.engine.begin() as conn:
            session = SaSession(conn)
            outcomes = []
            for event, attempt in attempts:
                next_at = None if attempt.delivered else self._next(event, attempt.at)
                await outbox.record(session, event, attempt, next_at)
                outcomes.append((event, attempt, next_at))
        for event, attempt, next_at in outcomes:
            if attempt.delivered:
                self.delivered += 1
                log.info("webhook %s delivered (%s)", event.id, attempt.status_code)
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
