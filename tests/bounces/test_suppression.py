"""An address whose e-mail failed for good (a bounce, or a 5xx reply) is not surveyed again by
the same account within OPENSURE_BOUNCE_SUPPRESSION_DAYS."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import update

from opensure.core.clock import utcnow
from opensure.dispatch import repository as repo
from opensure.models import FeedbackRequest
from tests.conftest import Account
from tests.dispatch.support import address, create_request, dispatch, fetch_request

fr = FeedbackRequest.__table__


async def bounce(app: FastAPI, request_id: int, *, days_ago: float = 0) -> None:
    async with app.state.engine.begin() as conn:
        assert await repo.record_bounce(conn, request_id, "bounced: 5.1.1 user unknown", utcnow())
        if days_ago:
            sent = utcnow() - dt.timedelta(days=days_ago)
            await conn.execute(update(fr).where(fr.c.id == request_id).values(sent_at=sent))


async def test_a_bounced_address_is_not_surveyed_again(
    app: FastAPI, account: Account, other_account: Account, tmp_path: Path
) -> None:
    outbox = f"maildir:{tmp_path / 'out'}"
    to = address("gone")
    first = await create_request(account, email=to)
    await dispatch(app, outbox)
    await bounce(app, first["id"])
    # The same address, written differently; and the same address at another account.
    again = await create_request(account, email=to.upper())
    elsewhere = await create_request(other_account, email=to)
    await dispatch(app, outbox)
    after = await fetch_request(account, again["id"])
    assert after["state"] == "not_sent"
    assert after["not_sent_reason"] == "recipient bounced recently"
    assert (await fetch_request(other_account, elsewhere["id"]))["state"] == "sent"


async def test_the_suppression_ends_after_its_days_and_can_be_turned_off(
    app: FastAPI, account: Account, tmp_path: Path
) -> None:
    outbox = f"maildir:{tmp_path / 'out'}"
    old, recent = address("old"), address("recent")
    a = await create_request(account, email=old)
    b = await create_request(account, email=recent)
    await dispatch(app, outbox)
    await bounce(app, a["id"], days_ago=31)
    await bounce(app, b["id"], days_ago=1)
    c = await create_request(account, email=old)
    d = await create_request(account, email=recent)
    await dispatch(app, outbox, bounce_suppression_days=30)
    assert (await fetch_request(account, c["id"]))["state"] == "sent"
    assert (await fetch_request(account, d["id"]))["state"] == "not_sent"
    e = await create_request(account, email=recent)
    await dispatch(app, outbox, bounce_suppression_days=0)
    assert (await fetch_request(account, e["id"]))["state"] == "sent"


async def test_record_bounce_takes_only_sent_requests_once(
    app: FastAPI, account: Account, tmp_path: Path
) -> None:
    pending = await create_request(account, send_at="2099-01-01T00:00:00Z")
    async with app.state.engine.begin() as conn:
        assert not await repo.record_bounce(conn, pending["id"], "bounced", utcnow())
    assert (await fetch_request(account, pending["id"]))["delivery_failure"] is None
    sent = await create_request(account)
    await dispatch(app, f"maildir:{tmp_path / 'out'}")
    async with app.state.engine.begin() as conn:
        assert await repo.record_bounce(conn, sent["id"], "bounced: first", utcnow())
        assert not await repo.record_bounce(conn, sent["id"], "bounced: second", utcnow())
    after = await fetch_request(account, sent["id"])
    assert (after["state"], after["delivery_failure"]) == ("sent", "bounced: first")
