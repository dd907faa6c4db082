"""Requests the dispatcher must not send: unsubscribed recipients, removed surveys, recipients
surveyed too recently."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from opensure.core.clock import utcnow
from opensure.models import Survey
from tests.conftest import Account, make_account
from tests.dispatch.support import (
    SmtpServer,
    address,
    create_request,
    dispatch,
    fetch_request,
    forms,
    survey_link,
)


def unsubscribe_path(smtp: SmtpServer, to: str) -> str:
    link = smtp.one_to(to)["List-Unsubscribe"].strip("<>")
    return "/" + link.split("/", 3)[3]


async def test_one_click_unsubscribe_stops_later_emails_to_that_address(
    app: FastAPI,
    client: httpx.AsyncClient,
    account: Account,
    other_account: Account,
    smtp: SmtpServer,
) -> None:
    to = address("leaver")
    await create_request(account, email=to)
    await dispatch(app, smtp.url)
    path = unsubscribe_path(smtp, to)

    # RFC 8058 one-click: a form POST with exactly this body, no cookies or form token.
    r = await client.post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    assert to in r.text

    later = [
        await create_request(account, email=to),
        await create_request(account, email=to.upper()),
        await create_request(account, email=to.capitalize()),
    ]
    elsewhere = await create_request(other_account, email=to)
    await dispatch(app, smtp.url)

    for created in later:
        after = await fetch_request(account, created["id"])
        assert after["state"] == "not_sent"
        assert after["sent_at"] is None
        assert "unsubscribed" in after["not_sent_reason"].lower()
    # Unsubscribing from one company's surveys leaves other accounts alone.
    assert (await fetch_request(other_account, elsewhere["id"]))["state"] == "sent"
    codes = [urlsplit(survey_link(m.message)).path for m in smtp.to(to)]
    assert codes == [f"/s/{account.survey['code']}", f"/s/{other_account.survey['code']}"]

    # Unsubscribing twice is harmless.
    again = await client.post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert again.status_code == 200


async def test_unsubscribe_page_asks_first_and_does_not_unsubscribe_on_get(
    app: FastAPI, client: httpx.AsyncClient, account: Account, smtp: SmtpServer
) -> None:
    to = address("visitor")
    await create_request(account, email=to)
    await dispatch(app, smtp.url)
    path = unsubscribe_path(smtp, to)

    page = await client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    (form,) = forms(page.text)
    assert form["method"].lower() == "post"
    assert any(i["tag"] == "button" or i.get("type") == "submit" for i in form["inputs"])
    # Link scanners and prefetchers GET links: that must not unsubscribe anyone.
    await client.get(path)

    created = await create_request(account, email=to)
    await dispatch(app, smtp.url)
    assert (await fetch_request(account, created["id"]))["state"] == "sent"
    assert len(smtp.to(to)) == 2


async def test_unknown_unsubscribe_token_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/u/not-a-real-token")).status_code == 404
    r = await client.post(
        "/u/not-a-real-token",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 404


async def test_request_for_a_removed_survey_is_not_sent(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    to = address()
    created = await create_request(account, email=to)
    async with app.state.engine.begin() as conn:
        s = Survey.__table__
        await conn.execute(update(s).where(s.c.id == account.survey_id).values(deleted_at=utcnow()))
    await dispatch(app, smtp.url)

    after = await fetch_request(account, created["id"])
    assert after["state"] == "not_sent"
    assert "survey" in after["not_sent_reason"].lower()
    assert smtp.to(to) == []


async def test_recipient_surveyed_within_the_minimum_interval_is_not_sent(
    app: FastAPI, client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    strict = await make_account(app, client, min_interval_days=30)
    relaxed = await make_account(app, client)
    to, other = address("often"), address("once")

    first = await create_request(strict, email=to)
    await dispatch(app, smtp.url)
    assert (await fetch_request(strict, first["id"]))["state"] == "sent"

    again = await create_request(strict, email=to.upper())
    fresh = await create_request(strict, email=other)
    await dispatch(app, smtp.url)
    after = await fetch_request(strict, again["id"])
    assert after["state"] == "not_sent"
    assert after["not_sent_reason"]
    assert "30" in after["not_sent_reason"]
    assert len(smtp.to(to)) == 1
    assert (await fetch_request(strict, fresh["id"]))["state"] == "sent"

    # Two requests to one address in the same batch: only one goes out.
    twin_address = address("twin")
    twins = [await create_request(strict, email=twin_address) for _ in range(2)]
    await dispatch(app, smtp.url)
    states = sorted([(await fetch_request(strict, t["id"]))["state"] for t in twins])
    assert states == ["not_sent", "sent"]
    assert len(smtp.to(twin_address)) == 1

    # Without a minimum interval, the same address is surveyed every time.
    for _ in range(2):
        await create_request(relaxed, email=to)
        await dispatch(app, smtp.url)
    assert len(smtp.to(to)) == 3
