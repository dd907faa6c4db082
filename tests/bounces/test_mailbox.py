"""Bounces read from the bounce Maildir set delivery_failure on the request they name (by its
return path or its Message-ID), move /response_rate as SPEC §4 defines, and are read once."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from opensure.app import create_app
from opensure.config import Settings
from opensure.dispatch import verp
from opensure.dispatch.bouncebox import (
    BounceReader,
    ImapBox,
    MaildirBox,
    ReadStats,
    mailbox_from_url,
)
from opensure.feedback_requests.events import delivery_failed
from opensure.hooks.service import complain
from opensure.models import FeedbackRequest, WebhookEndpoint, WebhookEvent
from opensure.webhooks import service as webhooks
from tests.bounces.samples import arf, drop, dsn, qmail, sent_to
from tests.conftest import BASE, Account
from tests.dispatch.support import (
    address,
    answer,
    create_request,
    dispatch,
    fetch_request,
    parse,
    survey_link,
)

BOUNCES = "bounces@bounce.opensure.test"


async def send(app: FastAPI, account: Account, tmp_path: Path, *emails: str) -> list[int]:
    ids = [int((await create_request(account, email=e))["id"]) for e in emails]
    await dispatch(app, f"maildir:{tmp_path / 'outbox'}", bounce_address=BOUNCES)
    return ids


async def send_one(app: FastAPI, account: Account, tmp_path: Path) -> tuple[str, int, bytes]:
    """One request sent to a new address: the address, the request's id and its e-mail as
    it went out."""
    to = address()
    (request_id,) = await send(app, account, tmp_path, to)
    return to, request_id, sent_to(tmp_path / "outbox", to)


async def token_of(app: FastAPI, request_id: int) -> str:
    fr = FeedbackRequest.__table__
    async with app.state.engine.connect() as conn:
        return str((await conn.execute(select(fr.c.token).where(fr.c.id == request_id))).scalar())


def return_path(raw: bytes) -> str:
    return str(parse(raw)["Return-Path"]).strip("<>")


async def read(app: FastAPI, box: Path) -> int:
    stats = await BounceReader(app.state.engine, MaildirBox(str(box))).read_once()
    return stats.recorded


def windows() -> list[dict[str, str]]:
    """Two hours around now (counted from the rows), and today and tomorrow as whole days
    (read from PostgreSQL's per-day rollups, which its triggers keep)."""
    now = dt.datetime.now(dt.UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    spans = [(now - dt.timedelta(hours=1), now + dt.timedelta(hours=1))]
    spans.append((today, today + dt.timedelta(days=2)))
    return [{"from_time": a.strftime(fmt), "to_time": b.strftime(fmt)} for a, b in spans]


async def rates(account: Account) -> list[tuple[int, int, int, int]]:
    out = []
    for window in windows():
        r = await account.get("/response_rate", params=window)
        assert r.status_code == 200, r.text
        b = r.json()
        out.append(
            (b["response_rate_percent"], b["sent_count"], b["delivered_count"], b["reply_count"])
        )
    return out


async def test_each_email_has_its_own_return_path(
    app: FastAPI, account: Account, tmp_path: Path
) -> None:
    a, b = address("ann"), address("bob")
    ids = await send(app, account, tmp_path, a, b)
    paths = [return_path(sent_to(tmp_path / "outbox", e)) for e in (a, b)]
    assert paths[0] != paths[1]
    for request_id, path in zip(ids, paths, strict=True):
        assert path.startswith(f"bounces+{request_id}-")
        assert path.endswith("@bounce.opensure.test")
        token = await token_of(app, request_id)
        # The survey token is not in the return path, and the path checks out against it.
        assert token not in path and token[:8] not in path
        (ref,) = verp.refs_in([path])
        assert verp.matches(ref, token)
        assert not verp.matches(ref, token[:-1] + ("A" if token[-1] != "A" else "B"))


async def test_without_a_bounce_address_the_envelope_sender_is_unchanged(
    app: FastAPI, account: Account, tmp_path: Path
) -> None:
    to = address()
    await create_request(account, email=to)
    await dispatch(app, f"maildir:{tmp_path / 'outbox'}")
    assert return_path(sent_to(tmp_path / "outbox", to)) == "feedback@opensure.test"


async def test_a_dsn_sets_delivery_failure_and_moves_the_response_rate(
    app: FastAPI, account: Account, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    before = await rates(account)
    answered, bounced, other = address("ann"), address("bob"), address("cy")
    ids = await send(app, account, tmp_path, answered, bounced, other)
    out = tmp_path / "outbox"
    link = survey_link(parse(sent_to(out, answered)))
    q = [int(question["id"]) for question in account.survey["questions"]]
    assert (await answer(client, link, {q[0]: "9", q[1]: "4", q[3]: "Yes"})).status_code == 303
    middle = await rates(account)
    for (_, s0, d0, r0), (_, s1, d1, r1) in zip(before, middle, strict=True):
        assert (s1, d1, r1) == (s0 + 3, d0 + 3, r0 + 1)

    box = tmp_path / "bounces"
    raw = sent_to(out, bounced)
    drop(box, dsn(to=return_path(raw), recipient=bounced, original=raw))
    assert await read(app, box) == 1

    after = await fetch_request(account, ids[1])
    assert after["state"] == "sent"
    assert after["delivery_failure"].startswith("bounced: 5.1.1")
    assert "User unknown" in after["delivery_failure"]
    # SPEC §4: still sent, no longer delivered; the reply rate is over the delivered ones.
    for (_, sent, delivered, replied), (pct, sent2, delivered2, replied2) in zip(
        middle, await rates(account), strict=True
    ):
        assert (sent2, delivered2, replied2) == (sent, delivered - 1, replied)
        assert pct == int(100 * replied2 / delivered2 + 0.5)
    # The others are untouched.
    assert (await fetch_request(account, ids[0]))["delivery_failure"] is None
    assert (await fetch_request(account, ids[2]))["delivery_failure"] is None
    # Moved out of new/ into cur/ (Seen): read once only.
    assert os.listdir(box / "new") == []
    assert [n.endswith(":2,S") for n in os.listdir(box / "cur")] == [True]
    assert await read(app, box) == 0


async def test_a_dsn_names_its_request_by_message_id_alone(
    app: FastAPI, account: Account, tmp_path: Path
) -> None:
    to, request_id, raw = await send_one(app, account, tmp_path)
    box = tmp_path / "bounces"
    # Addressed to the plain bounce address (a relay that rewrote the return path).
    drop(box, dsn(to=BOUNCES, recipient=to, original=raw))
    assert await read(app, box) == 1
    assert (await fetch_request(account, request_id))["delivery_failure"] is not None


async def test_the_message_id_shows_nothing_of_the_token_and_old_ones_still_count(
    app: FastAPI, account: Account, tmp_path: Path
) -> None:
    to, earlier = address(), address()
    request_id, earlier_id = await send(app, account, tmp_path, to, earlier)
    token = await token_of(app, request_id)
    message_id = str(parse(sent_to(tmp_path / "outbox", to))["Message-ID"])
    assert message_id.startswith(f"<feedback-request-{request_id}.{verp.tag(token)}@")
    assert not any(token[i : i + 6] in message_id for i in range(len(token) - 5))

    # An e-mail sent before the change carried the token's first 12 characters: a bounce
    # quoting that Message-ID still names its request; a wrong prefix names none.
    # Without the return path (the other way a bounce names its request): the Message-ID alone.
    raw = sent_to(tmp_path / "outbox", earlier).replace(
        return_path(sent_to(tmp_path / "outbox", earlier)).encode(), b"someone@relay.example"
    )
    old_token = await token_of(app, earlier_id)
    ours = str(parse(raw)["Message-ID"])
    box = tmp_path / "bounces"
    forged = raw.replace(ours.encode(), f"<feedback-request-{earlier_id}.{'A' * 12}@x>".encode())
    drop(box, dsn(to=BOUNCES, recipient=earlier, original=forged))
    assert await read(app, box) == 0
    old = raw.replace(ours.encode(), f"<feedback-request-{earlier_id}.{old_token[:12]}@x>".encode())
    drop(box, dsn(to=BOUNCES, recipient=earlier, original=old))
    assert await read(app, box) == 1
    assert (await fetch_request(account, earlier_id))["delivery_failure"] is not None
    assert (await fetch_request(account, request_id))["delivery_failure"] is None


async def test_a_temporary_failure_is_only_logged(
    app: FastAPI, account: Account, tmp_path: Path
) -> None:
    to, request_id, raw = await send_one(app, account, tmp_path)
    box = tmp_path / "bounces"
    drop(
        box, dsn(to=return_path(raw), recipient=to, original=raw, action="delayed", status="4.4.7")
    )
    drop(box, dsn(to=return_path(raw), recipient=to, original=raw, status="4.2.2"))
    assert await read(app, box) == 0
    assert (await fetch_request(account, request_id))["delivery_failure"] is None
    assert os.listdir(box / "new") == []  # handled all the same


async def test_a_non_standard_bounce_is_read_by_flufl_bounce(
    app: FastAPI, account: Account, tmp_path: Path
) -> None:
    to, request_id, raw = await send_one(app, account, tmp_path)
    box = tmp_path / "bounces"
    drop(box, qmail(to=return_path(raw), recipient=to))
    assert await read(app, box) == 1
    failure = (await fetch_request(account, request_id))["delivery_failure"]
    assert failure.startswith("bounced")


async def test_a_forged_or_foreign_bounce_changes_nothing(
    app: FastAPI, account: Account, tmp_path: Path
) -> None:
    to = address()
    (request_id,) = await send(app, account, tmp_path, to)
    box = tmp_path / "bounces"
    # The right request id with a made-up tag, and a bounce of someone else's e-mail.
    forged = f"bounces+{request_id}-0123456789abcdef@bounce.opensure.test"
    drop(box, dsn(to=forged, recipient=to, original=b"Subject: hi\r\n\r\n"))
    drop(box, dsn(to="someone@else.example", recipient=to, original=b"Subject: hi\r\n\r\n"))
    drop(box, b"From: friend@example.com\r\nSubject: hello\r\n\r\nNot a bounce.\r\n")
    assert await read(app, box) == 0
    assert (await fetch_request(account, request_id))["delivery_failure"] is None
    assert os.listdir(box / "new") == []


async def test_a_second_bounce_keeps_the_first_failure(
    app: FastAPI, account: Account, tmp_path: Path
) -> None:
    to, request_id, raw = await send_one(app, account, tmp_path)
    box = tmp_path / "bounces"
    drop(box, dsn(to=return_path(raw), recipient=to, original=raw, status="5.1.1"))
    drop(box, dsn(to=return_path(raw), recipient=to, original=raw, status="5.2.1"))
    assert await read(app, box) == 1
    assert "5.1.1" in (await fetch_request(account, request_id))["delivery_failure"]


def test_mailbox_urls() -> None:
    box = mailbox_from_url("maildir:./bounces")
    assert isinstance(box, MaildirBox) and box.path == Path("bounces")
    imap = mailbox_from_url("imaps://bounce%40acme:p%2Fss@imap.example.com/Bounces?verify=false")
    assert isinstance(imap, ImapBox)
    assert (imap.host, imap.port, imap.username, imap.password, imap.folder, imap.verify) == (
        "imap.example.com",
        993,
        "bounce@acme",
        "p/ss",
        "Bounces",
        False,
    )
    starttls = mailbox_from_url("imap://u:p@imap.example.com/INBOX")
    assert isinstance(starttls, ImapBox)
    assert (starttls.starttls, starttls.port, imap.starttls) == (True, 143, False)
    for bad in ("pop3://u:p@host/INBOX", "maildir:", "imaps://host/INBOX"):
        try:
            mailbox_from_url(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


async def test_a_bounce_writes_the_delivery_failed_webhook_event(
    app: FastAPI, account: Account, tmp_path: Path
) -> None:
    """The failure and its ``feedback_request.delivery_failed`` event in one transaction, the
    event's data the request as GET returns it (with its delivery_failure)."""
    async with app.state.engine.begin() as conn:
        endpoint = await webhooks.create_endpoint(
            conn,
            account.id,
            url="http://127.0.0.1:9/hooks",
            events="feedback_request.delivery_failed",
            allow_private_network=True,
        )
    bounced = address("dee")
    [request_id] = await send(app, account, tmp_path, bounced)
    raw = sent_to(tmp_path / "outbox", bounced)
    box = tmp_path / "bounces"
    drop(box, dsn(to=return_path(raw), recipient=bounced, original=raw))
    reader = BounceReader(app.state.engine, MaildirBox(str(box)), on_failed=delivery_failed)
    assert (await reader.read_once()).recorded == 1

    events, endpoints = WebhookEvent.__table__, WebhookEndpoint.__table__
    mine = select(endpoints.c.id).where(endpoints.c.account_id == account.id)
    async with app.state.engine.connect() as conn:
        query = select(events.c.type, events.c.body).where(events.c.endpoint_id.in_(mine))
        rows = (await conn.execute(query)).all()
    assert [r.type for r in rows] == ["feedback_request.delivery_failed"]
    body = json.loads(rows[0].body)
    assert body["data"] == await fetch_request(account, request_id)
    assert body["data"]["delivery_failure"].startswith("bounced: 5.1.1")
    # Nothing left due for later tests of this database (the endpoint goes, its events too).
    async with app.state.engine.begin() as conn:
        await webhooks.remove_endpoint(conn, account.id, int(endpoint["id"]))


# ---- feedback reports (RFC 5965): complaints ----


async def read_with_complaints(app: FastAPI, box: Path) -> ReadStats:
    """One pass of the reader as the wiring sets it up: complaints unsubscribe."""
    return await BounceReader(
        app.state.engine, MaildirBox(str(box)), on_complaint=complain
    ).read_once()


async def test_a_feedback_report_unsubscribes_the_address(
    app: FastAPI, account: Account, tmp_path: Path
) -> None:
    to, request_id, raw = await send_one(app, account, tmp_path)
    box = tmp_path / "bounces"
    # Sent to the plain bounce address, as a feedback loop does: the e-mail complained about,
    # attached, names the request by its Message-ID and return path.
    drop(box, arf(to=BOUNCES, recipient=to, original=raw))
    stats = await read_with_complaints(app, box)
    assert (stats.messages, stats.recorded, stats.unsubscribed) == (1, 0, 1)
    sent = await fetch_request(account, request_id)
    assert sent["state"] == "sent" and sent["delivery_failure"] is None  # delivered after all
    # The next survey to that address is not sent: the customer said it was spam.
    again = await create_request(account, email=to)
    await dispatch(app, f"maildir:{tmp_path / 'outbox'}", bounce_address=BOUNCES)
    after = await fetch_request(account, int(again["id"]))
    assert after["state"] == "not_sent"
    assert "unsubscribed" in after["not_sent_reason"]
    assert [n.endswith(":2,S") for n in os.listdir(box / "cur")] == [True]


async def test_a_feedback_report_that_is_not_a_complaint_changes_nothing(
    app: FastAPI, account: Account, tmp_path: Path
) -> None:
    to, other = address(), address()
    _, other_id = await send(app, account, tmp_path, to, other)
    box = tmp_path / "bounces"
    # "Not spam" about a real e-mail; a complaint about a forged one (the right request id
    # with a made-up tag); a complaint about someone else's e-mail.
    real = sent_to(tmp_path / "outbox", to)
    drop(box, arf(to=BOUNCES, recipient=to, original=real, feedback_type="not-spam"))
    forged = f"Return-Path: <bounces+{other_id}-0123456789abcdef@bounce.opensure.test>\r\n"
    drop(box, arf(to=BOUNCES, recipient=other, original=forged.encode() + b"\r\nhi\r\n"))
    drop(box, arf(to=BOUNCES, recipient=other, original=b"Subject: hi\r\n\r\nhi\r\n"))
    stats = await read_with_complaints(app, box)
    assert (stats.messages, stats.recorded, stats.unsubscribed) == (3, 0, 0)
    for addr in (to, other):
        again = await create_request(account, email=addr)
        await dispatch(app, f"maildir:{tmp_path / 'outbox'}", bounce_address=BOUNCES)
        assert (await fetch_request(account, int(again["id"])))["state"] == "sent"


async def test_serve_reads_feedback_reports_with_its_embedded_dispatcher(
    db_url: str, account: Account, tmp_path: Path
) -> None:
    """The wiring: `opensure serve`'s app (an embedded dispatcher and the bounce mailbox)
    unsubscribes an address a feedback report complains about, as `opensure dispatcher` does."""
    box, outbox = tmp_path / "bounces", tmp_path / "outbox"
    served = create_app(
        Settings(
            database_url=db_url,
            public_url=BASE,
            run_dispatcher=True,
            mail_url=f"maildir:{outbox}",
            bounce_address=BOUNCES,
            bounce_mailbox=f"maildir:{box}",
            bounce_poll_seconds=0.05,
            dispatch_interval=0.05,
        )
    )
    to = address()
    async with served.router.lifespan_context(served):
        first = await create_request(account, email=to)
        await until_state(account, int(first["id"]), "sent")
        drop(box, arf(to=BOUNCES, recipient=to, original=sent_to(outbox, to)))
        for _ in range(200):
            if not os.listdir(box / "new"):
                break
            await asyncio.sleep(0.05)
        again = await create_request(account, email=to)
        after = await until_state(account, int(again["id"]), "not_sent")
    assert "unsubscribed" in after["not_sent_reason"]


async def until_state(account: Account, request_id: int, state: str) -> dict[str, Any]:
    for _ in range(200):
        found = await fetch_request(account, request_id)
        if found["state"] == state:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"request {request_id} is {found['state']}, not {state}")
