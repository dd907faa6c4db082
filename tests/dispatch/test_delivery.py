"""What the dispatcher records for each SMTP outcome, retries, volume and the Maildir transport."""

from __future__ import annotations

import asyncio
import datetime as dt
import mailbox
import secrets
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import insert, select, update

from opensure.core.clock import utcnow
from opensure.dispatch.worker import Dispatcher
from opensure.models import FeedbackRequest
from tests.conftest import Account
from tests.dispatch.support import (
    AFTER_RETRY_DELAY,
    Received,
    SmtpServer,
    address,
    create_request,
    dispatch,
    fetch_request,
    free_port,
    now_iso,
    parse,
    settings,
)

fr = FeedbackRequest.__table__


async def attempts(app: FastAPI, request_id: int) -> int:
    async with app.state.engine.connect() as conn:
        value = (await conn.execute(select(fr.c.attempts).where(fr.c.id == request_id))).scalar()
    return int(value)


async def test_permanent_rejection_at_rcpt_is_sent_with_delivery_failure(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    to = address("nobody")
    smtp.reply_rcpt(to, "550 5.1.1 <nobody>: Recipient address rejected: User unknown")
    created = await create_request(account, email=to)
    await dispatch(app, smtp.url)

    after = await fetch_request(account, created["id"])
    assert after["state"] == "sent"
    assert after["sent_at"] is not None
    assert "550" in after["delivery_failure"]
    assert "User unknown" in after["delivery_failure"]
    assert after["not_sent_reason"] is None
    assert smtp.to(to) == []
    # Not retried.
    await dispatch(app, smtp.url)
    assert smtp.rcpt_seen.count(to) == 1


async def test_permanent_rejection_at_data_is_sent_with_delivery_failure(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    to = address("spamtrap")
    smtp.reply_data(to, "554 5.7.1 Message rejected as spam")
    ok = address("fine")
    created = await create_request(account, email=to)
    await create_request(account, email=ok)
    await dispatch(app, smtp.url)

    after = await fetch_request(account, created["id"])
    assert after["state"] == "sent"
    assert "554" in after["delivery_failure"]
    assert "rejected as spam" in after["delivery_failure"]
    assert smtp.to(to) == []
    # The connection stays usable for the next message.
    smtp.one_to(ok)


async def test_temporary_failure_is_retried_and_sent_once(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    at_rcpt, at_data = address("greylisted"), address("busy")
    smtp.reply_rcpt(at_rcpt, "451 4.7.1 Greylisted, try again later")
    smtp.reply_data(at_data, "452 4.3.1 Insufficient system storage")
    first = await create_request(account, email=at_rcpt)
    second = await create_request(account, email=at_data)

    await dispatch(app, smtp.url)
    for created in (first, second):
        pending = await fetch_request(account, created["id"])
        assert pending["state"] == "pending"
        assert pending["sent_at"] is None
        assert await attempts(app, created["id"]) == 1
    assert smtp.to(at_rcpt) == [] and smtp.to(at_data) == []

    await dispatch(app, smtp.url, later=AFTER_RETRY_DELAY)  # past the backoff
    for created in (first, second):
        sent = await fetch_request(account, created["id"])
        assert sent["state"] == "sent"
        assert sent["delivery_failure"] is None
        assert await attempts(app, created["id"]) == 1
    assert len(smtp.to(at_rcpt)) == 1
    assert len(smtp.to(at_data)) == 1
    assert smtp.rcpt_seen.count(at_rcpt) == 2

    # The retry carries the same Message-ID as the attempt the server turned away.
    (refused,) = [m for m in smtp.rejected_data if at_data in m.recipients]
    assert refused.message["Message-ID"] == smtp.one_to(at_data)["Message-ID"]

    await dispatch(app, smtp.url, later=2 * AFTER_RETRY_DELAY)
    assert len(smtp.to(at_rcpt)) == 1 and len(smtp.to(at_data)) == 1


async def test_retry_waits_for_the_backoff(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    to = address("later")
    smtp.reply_rcpt(to, "421 4.7.0 Try again later")
    created = await create_request(account, email=to)
    await dispatch(app, smtp.url, retry_base_seconds=60)
    # Due again only after the backoff: an immediate second run does not touch it.
    await dispatch(app, smtp.url, retry_base_seconds=60)
    assert smtp.rcpt_seen.count(to) == 1
    assert (await fetch_request(account, created["id"]))["state"] == "pending"


async def test_server_down_keeps_pending_then_gives_up_after_the_window(
    app: FastAPI, account: Account
) -> None:
    nothing_there = f"smtp://127.0.0.1:{free_port()}?timeout=2"
    created = await create_request(account, email=address())

    await dispatch(app, nothing_there)
    pending = await fetch_request(account, created["id"])
    assert pending["state"] == "pending"
    assert pending["sent_at"] is None
    assert pending["not_sent_reason"] is None
    assert await attempts(app, created["id"]) == 1

    await dispatch(app, nothing_there, later=AFTER_RETRY_DELAY, retry_window_seconds=0)
    gone = await fetch_request(account, created["id"])
    assert gone["state"] == "not_sent"
    assert gone["sent_at"] is None
    assert gone["not_sent_reason"]
    assert "retr" in gone["not_sent_reason"].lower()


async def test_many_requests_over_several_connections_each_sent_once(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    recipients = [address(f"bulk{i}") for i in range(50)]
    now = utcnow()
    rows = [
        {
            "account_id": account.id,
            "survey_id": account.survey_id,
            "email": to,
            "state": "pending",
            "send_at": now - dt.timedelta(seconds=1),
            "created_at": now,
            "updated_at": now,
            "token": secrets.token_urlsafe(24),
        }
        for to in recipients
    ]
    async with app.state.engine.begin() as conn:
        ids = list((await conn.execute(insert(fr).returning(fr.c.id), rows)).scalars())

    # Two dispatchers at once, each with several connections and small batches.
    config = {"smtp_connections": 4, "dispatch_batch_size": 15}
    first = Dispatcher(app.state.engine, settings(smtp.url, **config))
    second = Dispatcher(app.state.engine, settings(smtp.url, **config))
    await asyncio.gather(first.drain(), second.drain())

    for to in recipients:
        assert len(smtp.to(to)) == 1, to
    peers = {m.peer for to in recipients for m in smtp.to(to)}
    assert len(peers) > 1
    ids_seen = {smtp.one_to(to)["Message-ID"] for to in recipients}
    assert len(ids_seen) == 50
    async with app.state.engine.connect() as conn:
        states = (await conn.execute(select(fr.c.state).where(fr.c.id.in_(ids)))).scalars()
        assert list(states) == ["sent"] * 50


async def test_maildir_transport_writes_one_file_per_email(
    app: FastAPI, account: Account, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    recipients = [address("md1"), address("md2"), address("md3")]
    ids = [(await create_request(account, email=to, first_name="Kate"))["id"] for to in recipients]
    await dispatch(app, f"maildir:{outbox}")
    await dispatch(app, f"maildir:{outbox}")

    files = [p for p in (outbox / "new").iterdir() if p.is_file()]
    by_recipient: dict[str, int] = {}
    for path in files:
        message = parse(path.read_bytes())
        for a in message["To"].addresses:
            by_recipient[a.addr_spec] = by_recipient.get(a.addr_spec, 0) + 1
    assert {to: by_recipient.get(to) for to in recipients} == dict.fromkeys(recipients, 1)
    assert len(mailbox.Maildir(outbox, create=False)) == len(files)
    for request_id in ids:
        assert (await fetch_request(account, request_id))["state"] == "sent"


async def test_an_unsendable_address_does_not_spoil_the_connection_for_the_next(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    odd = f"zoë.{address('u').split('@')[0]}@example.com"
    await create_request(account, email=odd, send_at=now_iso(seconds=-5))
    following = [address("next") for _ in range(3)]
    ids = [(await create_request(account, email=to))["id"] for to in following]
    await dispatch(app, smtp.url, smtp_connections=1)
    for to, request_id in zip(following, ids, strict=True):
        after = await fetch_request(account, request_id)
        assert after["state"] == "sent"
        assert after["delivery_failure"] is None, after["delivery_failure"]
        assert len(smtp.to(to)) == 1


async def test_server_hanging_up_between_messages_delays_nothing(
    app: FastAPI, account: Account
) -> None:
    server = SmtpServer(messages_per_connection=1)
    server.start()
    try:
        recipients = [address(f"hangup{i}") for i in range(6)]
        ids = [(await create_request(account, email=to))["id"] for to in recipients]
        await dispatch(app, server.url, smtp_connections=2)
        for to, request_id in zip(recipients, ids, strict=True):
            after = await fetch_request(account, request_id)
            assert after["state"] == "sent", after
            assert len(server.to(to)) == 1
    finally:
        server.stop()


async def test_request_claimed_by_a_dispatcher_that_died_is_sent_when_its_claim_runs_out(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    to = address("orphan")
    created = await create_request(account, email=to)
    claim = {"lease_owner": "crashed-host:1", "lease_until": utcnow() + dt.timedelta(minutes=5)}
    async with app.state.engine.begin() as conn:
        await conn.execute(update(fr).where(fr.c.id == created["id"]).values(**claim))

    await dispatch(app, smtp.url)
    assert smtp.to(to) == []
    assert (await fetch_request(account, created["id"]))["state"] == "pending"

    # Five minutes on, the claim has run out.
    await dispatch(app, smtp.url, later=5 * 60 + 1)
    assert len(smtp.to(to)) == 1
    assert (await fetch_request(account, created["id"]))["state"] == "sent"


async def test_a_trickle_of_requests_reuses_one_connection_until_idle(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    """Requests arriving one by one go over the connection the previous one opened; after
    OPENSURE_SMTP_IDLE_SECONDS without work it is closed, and the next email opens a new one."""
    config = settings(smtp.url, smtp_connections=1, dispatch_interval=0.05, smtp_idle_seconds=1.5)
    dispatcher = Dispatcher(app.state.engine, config)
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))

    async def sent_to(to: str) -> Received:
        await create_request(account, email=to)
        for _ in range(200):
            if smtp.to(to):
                return smtp.to(to)[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"nothing sent to {to}")

    try:
        first = await sent_to(address("trickle0"))
        await asyncio.sleep(0.3)  # idle rounds in between
        second = await sent_to(address("trickle1"))
        await asyncio.sleep(0.3)
        third = await sent_to(address("trickle2"))
        assert first.peer == second.peer == third.peer
        await asyncio.sleep(2.5)  # longer than the idle time: the connection is closed
        after_idle = await sent_to(address("trickle3"))
        assert after_idle.peer != third.peer
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
