"""Several `opensure dispatcher` processes over one PostgreSQL (SPEC §1, §5): each request is
sent once, nothing is lost when a dispatcher is killed, and a stopped one hands its work back."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opensure.dispatch import repository as repo
from tests.production.support import (
    DispatcherProcess,
    SmtpSink,
    describe,
    leased_pending,
    make_account,
    seed_due_requests,
    start_dispatcher,
    states,
    stop_all,
    wait_started,
    wait_until_all_sent,
)

pytestmark = pytest.mark.production

TOTAL = 5000
BATCH = 100
DEADLINE = 120.0


async def test_a_claim_takes_one_batch_even_on_a_freshly_filled_table(
    pg_engine: AsyncEngine,
) -> None:
    """Right after a bulk load (no statistics yet) the planner likes a nested loop that runs a
    locking subquery once per row; a claim must still take ``limit`` rows, and at once."""
    account = await make_account(pg_engine)
    await seed_due_requests(pg_engine, account, 2000)
    now = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    async with pg_engine.begin() as conn:
        ids = await repo.claim(
            conn, owner="test", now=now, until=now + dt.timedelta(minutes=5), limit=BATCH
        )
    took = time.monotonic() - started
    assert len(ids) == BATCH
    assert took < 2, f"one claim took {took:.1f} s"
    async with pg_engine.connect() as conn:
        ids = await repo.claim(
            conn, owner="other", now=now, until=now + dt.timedelta(minutes=5), limit=BATCH
        )
        await conn.rollback()
    assert len(ids) == BATCH


async def test_three_dispatchers_send_every_request_exactly_once(
    pg_url: str, pg_engine: AsyncEngine, sink: SmtpSink, tmp_path: Path
) -> None:
    account = await make_account(pg_engine)
    dispatchers = [
        start_dispatcher(
            pg_url,
            tmp_path,
            sink.url,
            dispatch_interval=0.2,
            dispatch_batch_size=BATCH,
        )
        for _ in range(3)
    ]
    try:
        # All three are running before the work appears (in one transaction), so all compete.
        await wait_started(dispatchers)
        emails = await seed_due_requests(pg_engine, account, TOTAL)
        try:
            took = await wait_until_all_sent(pg_engine, TOTAL, DEADLINE)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{describe(dispatchers)}") from None
    finally:
        codes = stop_all(dispatchers)
    print(f"\n3 dispatchers sent {TOTAL} emails in {took:.1f} s")

    assert codes == [0, 0, 0], describe(dispatchers)
    assert not any("Traceback" in d.log() for d in dispatchers), describe(dispatchers)
    assert await states(pg_engine) == Counter({"sent": TOTAL})
    received = Counter(d.recipient for d in sink.deliveries())
    assert set(received) == set(emails)
    twice = {address: n for address, n in received.items() if n != 1}
    assert not twice, f"{len(twice)} recipients got more than one email"
    # Every dispatcher did a share of the work.
    logs = [d.log() for d in dispatchers]
    assert all(" sent: " in log for log in logs), describe(dispatchers)


async def test_killed_dispatchers_lose_nothing_and_resend_only_with_the_same_message_id(
    pg_url: str, pg_engine: AsyncEngine, sink: SmtpSink, tmp_path: Path
) -> None:
    rng = random.Random(20240605)
    kills = 4
    account = await make_account(pg_engine)
    connections = 8
    settings = {
        "dispatch_interval": 0.2,
        "dispatch_batch_size": BATCH,
        "lease_seconds": 3,
        "smtp_connections": connections,
    }

    def spawn() -> DispatcherProcess:
        return start_dispatcher(pg_url, tmp_path, sink.url, **settings)

    running = [spawn() for _ in range(3)]
    everyone = list(running)
    # Kill when random shares of the work have been accepted by the SMTP server, plus a random
    # few milliseconds, so the kills land mid-batch rather than between batches.
    thresholds = sorted(rng.uniform(0.05, 0.75) * TOTAL for _ in range(kills))
    killed_at: list[int] = []
    kill_times: list[float] = []
    try:
        await wait_started(running)
        emails = await seed_due_requests(pg_engine, account, TOTAL)
        deadline = time.monotonic() + DEADLINE
        for threshold in thresholds:
            while sink.count() < threshold:
                assert time.monotonic() < deadline, f"stuck at {sink.count()} emails"
                await asyncio.sleep(0.01)
            await asyncio.sleep(rng.uniform(0, 0.05))
            victim = rng.randrange(len(running))
            running[victim].kill()
            kill_times.append(time.monotonic())
            killed_at.append(sink.count())
            running[victim] = spawn()
            everyone.append(running[victim])
        try:
            took = await wait_until_all_sent(pg_engine, TOTAL, deadline - time.monotonic())
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{describe(everyone)}") from None
        # A replacement may still be importing (SIGTERM before its loop runs is plain death).
        await wait_started(running)
    finally:
        codes = stop_all(running)
        for d in everyone:
            d.terminate()
    assert codes == [0, 0, 0], describe(running)
    assert not any("Traceback" in d.log() for d in everyone), describe(everyone)

    assert await states(pg_engine) == Counter({"sent": TOTAL})
    by_recipient = sink.by_recipient()
    assert set(by_recipient) == set(emails), "an email was lost"
    duplicates = {a: got for a, got in by_recipient.items() if len(got) > 1}
    for address, got in duplicates.items():
        ids = {d.message_id for d in got}
        assert len(ids) == 1, f"{address} got different Message-IDs: {ids}"
        assert next(iter(ids)), f"{address} got an email without a Message-ID"
    print(
        f"\n{kills} SIGKILLs at {killed_at} emails; all {TOTAL} sent in {took:.1f} s; "
        f"{len(duplicates)} recipients got a second copy (same Message-ID)"
    )
    # Only what a killed process had handed to SMTP but not yet recorded goes out twice (at
    # most the one email in flight on each of its connections): each first copy was accepted
    # shortly before a kill, and the lease brought it back once.
    assert len(duplicates) <= connections * kills
    assert all(len(got) == 2 for got in duplicates.values())
    window = settings["lease_seconds"]
    outside = [
        a
        for a, got in duplicates.items()
        if not any(k - window <= got[0].at <= k for k in kill_times)
    ]
    assert not outside, f"{len(outside)} duplicates not sent just before a kill: {outside[:5]}"


async def test_a_sigkill_at_full_speed_resends_at_most_one_email_per_connection(
    pg_url: str, pg_engine: AsyncEngine, sink: SmtpSink, tmp_path: Path
) -> None:
    """One dispatcher at a time, killed again and again while it sends as fast as it can: a
    connection does not start its next email before the previous one's outcome is committed,
    so each kill re-sends at most one email per SMTP connection."""
    total, kills, connections = 4000, 3, 4
    account = await make_account(pg_engine)
    emails = await seed_due_requests(pg_engine, account, total)
    settings = {
        "dispatch_interval": 0.2,
        "dispatch_batch_size": BATCH,
        "lease_seconds": 2,
        "smtp_connections": connections,
    }
    everyone: list[DispatcherProcess] = []
    kill_times: list[float] = []
    killed_at: list[int] = []
    deadline = time.monotonic() + DEADLINE
    try:
        for k in range(kills):
            current = start_dispatcher(pg_url, tmp_path, sink.url, **settings)
            everyone.append(current)
            # Killed once it is at full speed: some hundred emails into its run.
            target = sink.count() + 300 + 100 * k
            while sink.count() < target:
                assert current.process.poll() is None, current.log()
                assert time.monotonic() < deadline, f"stuck at {sink.count()} emails"
                await asyncio.sleep(0.005)
            current.kill()
            kill_times.append(time.monotonic())
            killed_at.append(sink.count())
        last = start_dispatcher(pg_url, tmp_path, sink.url, **settings)
        everyone.append(last)
        try:
            took = await wait_until_all_sent(pg_engine, total, deadline - time.monotonic())
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{describe(everyone)}") from None
    finally:
        for d in everyone:
            d.terminate()
    assert killed_at[-1] < total, "the kills came too late to test anything"
    assert not any("Traceback" in d.log() for d in everyone), describe(everyone)
    assert await states(pg_engine) == Counter({"sent": total})

    by_message_id: dict[str, list[float]] = {}
    for d in sink.deliveries():
        by_message_id.setdefault(d.message_id, []).append(d.at)
    assert {d.recipient for d in sink.deliveries()} == set(emails), "an email was lost"
    assert len(by_message_id) == total
    twice = {mid: at for mid, at in by_message_id.items() if len(at) > 1}
    print(
        f"\n{kills} SIGKILLs at {killed_at} emails ({connections} connections); all {total} "
        f"sent in {took:.1f} s; {len(twice)} emails went out twice"
    )
    assert all(len(at) == 2 for at in twice.values()), twice
    # Each duplicate's first copy was accepted before a kill and after the one before it.
    per_kill = Counter(
        next(k for k, killed in enumerate(kill_times) if at[0] <= killed) for at in twice.values()
    )
    assert all(n <= connections for n in per_kill.values()), (per_kill, connections)


async def test_sigterm_mid_batch_finishes_in_flight_and_hands_back_the_rest(
    pg_url: str, pg_engine: AsyncEngine, slow_sink: SmtpSink, tmp_path: Path
) -> None:
    total = 300
    account = await make_account(pg_engine)
    emails = await seed_due_requests(pg_engine, account, total)
    # One batch holds every request; two connections at 50 ms a message need 7.5 s for it.
    # The lease is long: handed-back requests must not wait for it to run out.
    settings = {
        "dispatch_interval": 0.2,
        "dispatch_batch_size": total,
        "smtp_connections": 2,
        "lease_seconds": 300,
    }
    first = start_dispatcher(pg_url, tmp_path, slow_sink.url, **settings)
    second: DispatcherProcess | None = None
    try:
        deadline = time.monotonic() + 60
        while slow_sink.count() < 20:
            assert first.process.poll() is None, first.log()
            assert time.monotonic() < deadline, first.log()
            await asyncio.sleep(0.01)
        assert await leased_pending(pg_engine) > 0, "the batch is not claimed"
        stopping = time.monotonic()
        code = await asyncio.to_thread(first.terminate, 10.0)
        stopped_in = time.monotonic() - stopping
        assert code == 0, first.log()
        assert stopped_in < 5, f"took {stopped_in:.1f} s to stop\n{first.log()}"

        # Everything it sent is recorded, everything else is pending and no longer leased.
        sent_by_first = slow_sink.count()
        counts = await states(pg_engine)
        assert counts["sent"] == sent_by_first, (counts, sent_by_first, first.log())
        assert counts["pending"] == total - sent_by_first > 0
        assert await leased_pending(pg_engine) == 0, "unsent claims were not released"

        second = start_dispatcher(
            pg_url, tmp_path, slow_sink.url, **{**settings, "smtp_connections": 8}
        )
        took = await wait_until_all_sent(pg_engine, total, 30)
    finally:
        first.terminate()
        if second is not None:
            stop_all([second])
    print(
        f"\nSIGTERM after {sent_by_first} emails: stopped in {stopped_in:.2f} s; "
        f"the second dispatcher sent the other {total - sent_by_first} in {took:.1f} s"
    )
    received = Counter(d.recipient for d in slow_sink.deliveries())
    assert set(received) == set(emails)
    assert all(n == 1 for n in received.values()), "an email went out twice"
