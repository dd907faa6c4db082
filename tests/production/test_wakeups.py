"""LISTEN/NOTIFY: a request created through the API (`opensure serve --no-dispatcher`) due now
reaches an idle `opensure dispatcher` at once, not at its next poll (30 s here). And the
embedded shape on PostgreSQL counts what it sends in /metrics."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import statistics
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from opensure.db.notify import CHANNEL
from tests.fixtures.server import start_server, stop_server
from tests.production.support import (
    ApiAccount,
    DispatcherProcess,
    SmtpSink,
    make_account,
    start_dispatcher,
)

pytestmark = pytest.mark.production

POLL_INTERVAL = 30  # seconds: an email sooner than this was not found by polling


def z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def post_due(api: httpx.AsyncClient, account: ApiAccount, address: str) -> None:
    r = await api.post(
        "/feedback_requests",
        json={
            "email": address,
            "send_at": z(dt.datetime.now(dt.UTC)),
            "survey_id": account.survey_id,
        },
    )
    assert r.status_code == 201, r.text


async def arrival(
    sink: SmtpSink, address: str, within: float, dispatcher: DispatcherProcess
) -> float:
    deadline = time.monotonic() + within
    while True:
        got = sink.by_recipient().get(address)
        if got:
            return got[0].at
        assert dispatcher.process.poll() is None, dispatcher.log()[-3000:]
        assert time.monotonic() < deadline, f"no email to {address} in {within} s"
        await asyncio.sleep(0.005)


async def test_a_due_request_reaches_an_idle_dispatcher_within_a_second(
    pg_url: str, pg_engine: AsyncEngine, sink: SmtpSink, tmp_path: Path
) -> None:
    account = await make_account(pg_engine)
    server = await start_server("postgresql", pg_url, tmp_path, ["--no-dispatcher"])
    dispatcher = start_dispatcher(pg_url, tmp_path, sink.url, dispatch_interval=POLL_INTERVAL)
    run = secrets.token_hex(3)
    try:
        async with httpx.AsyncClient(
            base_url=server.base_url, timeout=10, headers=account.headers
        ) as api:
            # Warm-up: the dispatcher is up and listening once this one arrives.
            await post_due(api, account, f"warmup-{run}@example.com")
            await arrival(sink, f"warmup-{run}@example.com", POLL_INTERVAL + 15, dispatcher)

            latencies = []
            for i in range(10):
                address = f"latency-{run}-{i}@example.com"
                # A wake-up with nothing to do, as when another dispatcher took the work first:
                # the dispatcher must go on listening afterwards.
                async with pg_engine.begin() as conn:
                    await conn.execute(text(f"NOTIFY {CHANNEL}"))
                await asyncio.sleep(0.3)  # let the dispatcher go idle again
                posted = time.monotonic()
                await post_due(api, account, address)
                latencies.append(await arrival(sink, address, 5, dispatcher) - posted)

            # A request created while the dispatcher is busy sending (here: waiting for a slow
            # SMTP server's reply) is picked up right after that round, not at the next poll.
            sink.delay = 0.5
            first, second = f"busy-{run}-a@example.com", f"busy-{run}-b@example.com"
            await post_due(api, account, first)
            deadline = time.monotonic() + 5
            while not sink.receiving(first):
                assert time.monotonic() < deadline, "the first email never reached the server"
                await asyncio.sleep(0.005)
            posted = time.monotonic()
            await post_due(api, account, second)
            busy_latency = await arrival(sink, second, 10, dispatcher) - posted
            metrics = (await api.get("/metrics")).text
    finally:
        code = dispatcher.terminate()
        stop_server(server)
    p50 = statistics.median(latencies)
    print(
        f"\nPOST -> SMTP latency over {len(latencies)} requests: p50 {p50 * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms; created during a busy round: "
        f"{busy_latency * 1000:.0f} ms (polling every {POLL_INTERVAL} s)"
    )
    assert code == 0, dispatcher.log()[-3000:]
    assert p50 < 1.0, latencies
    assert max(latencies) < 5, latencies
    assert busy_latency < 3, busy_latency
    assert (
        'opensure_http_requests_total{method="POST",route="/feedback_requests",status="201"}'
        in (metrics)
    )


async def test_embedded_shape_on_postgresql_counts_emails_in_metrics(
    pg_url: str, pg_engine: AsyncEngine, tmp_path: Path
) -> None:
    """`opensure serve` with its own dispatcher (Maildir), on PostgreSQL: /metrics counts the
    emails it sent beside the HTTP requests."""
    account = await make_account(pg_engine)
    server = await start_server("postgresql", pg_url, tmp_path)
    try:
        async with server.client(headers=account.headers) as api:
            await post_due(api, account, f"metrics-{secrets.token_hex(3)}@example.com")
            deadline = time.monotonic() + 20
            while True:
                r = await api.get("/feedback_requests", params={"state": "sent"})
                assert r.status_code == 200, r.text
                if r.json():
                    break
                assert time.monotonic() < deadline, server.stderr()[-3000:]
                await asyncio.sleep(0.2)
            r = await api.get("/metrics", headers={"X-Request-Id": "metrics-scrape-1"})
            assert r.status_code == 200
            assert r.headers["x-request-id"] == "metrics-scrape-1"
            assert (await api.get("/healthz")).status_code == 200
            assert (await api.get("/readyz")).status_code == 200
    finally:
        stop_server(server)
    lines = r.text.splitlines()
    assert 'opensure_emails_total{outcome="sent"} 1.0' in lines, r.text
    assert any(
        line.startswith('opensure_http_requests_total{method="POST",route="/feedback_requests"')
        for line in lines
    ), r.text
    assert any(line.startswith("opensure_due_requests ") for line in lines), r.text
