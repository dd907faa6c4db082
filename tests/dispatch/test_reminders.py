"""The one reminder (SPEC §10, docs/reminders.md "Reminders"): sent by the dispatcher that many
days after the first e-mail to a customer who has neither answered nor unsubscribed, never twice,
never after an erasure or a bounce, never for a removed survey. The dispatcher's clock is run
ahead (``dispatch(later=…)``) instead of waiting for days."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
from fastapi import FastAPI

from opensure.accounts import service as accounts
from opensure.core.clock import utcnow
from opensure.dispatch import repository as dispatch_repo
from opensure.dispatch.worker import Dispatcher
from opensure.surveys import admin as surveys
from tests.conftest import SURVEY, Account, make_account
from tests.dispatch.support import (
    DRAIN_TIMEOUT,
    SmtpServer,
    address,
    answer,
    create_request,
    dispatch,
    fetch_request,
    iso,
    parts,
    settings,
    survey_link,
)

DAY = 24 * 3600.0


async def reminders_after(app: FastAPI, account: Account, days: int) -> None:
    async with app.state.engine.begin() as conn:
        await accounts.update_settings(conn, account.id, {"reminder_after_days": str(days)})


async def rates(account: Account) -> list[tuple[int, int, int]]:
    """(sent, delivered, replies) for two hours around now (counted from the rows) and for
    today and tomorrow (PostgreSQL reads those from the rollups its triggers keep)."""
    now = utcnow()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    spans = [(now - dt.timedelta(hours=1), now + dt.timedelta(hours=1))]
    spans.append((today, today + dt.timedelta(days=2)))
    out = []
    for start, end in spans:
        r = await account.get(
            "/response_rate", params={"from_time": iso(start), "to_time": iso(end)}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        out.append((body["sent_count"], body["delivered_count"], body["reply_count"]))
    return out


async def sent_then_later(
    app: FastAPI, account: Account, smtp: SmtpServer, days: float, **fields: Any
) -> tuple[str, dict[str, Any]]:
    """A request sent now, then a dispatcher running ``days`` later; its address and the
    request as the API shows it then."""
    to = address("remind")
    created = await create_request(account, email=to, **fields)
    await dispatch(app, smtp.url)
    assert len(smtp.to(to)) == 1
    await dispatch(app, smtp.url, later=days * DAY)
    return to, await fetch_request(account, created["id"])


async def test_exactly_one_reminder_after_the_days_and_none_before(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    await reminders_after(app, account, 3)
    to = address("remind")
    created = await create_request(account, email=to, first_name="Kate")
    await dispatch(app, smtp.url)
    first = await fetch_request(account, created["id"])
    assert first["state"] == "sent" and first["reminder_sent_at"] is None

    await dispatch(app, smtp.url, later=3 * DAY - 120)  # not yet
    assert len(smtp.to(to)) == 1
    assert (await fetch_request(account, created["id"]))["reminder_sent_at"] is None

    await dispatch(app, smtp.url, later=3 * DAY + 60)
    got = smtp.to(to)
    assert len(got) == 2
    original, reminder = got[0].message, got[1].message
    assert reminder["Subject"] == "A reminder: how did we do?"
    assert original["Subject"] == "Kate, how did we do?"
    # The same links, its own Message-ID.
    assert survey_link(reminder) == survey_link(original)
    assert reminder["List-Unsubscribe"] == original["List-Unsubscribe"]
    assert reminder["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert reminder["Message-ID"] != original["Message-ID"]
    text, html = parts(reminder)
    assert "We wrote to you a few days ago" in text and "We wrote to you a few days ago" in html
    assert "We wrote to you" not in parts(original)[0]

    after = await fetch_request(account, created["id"])
    assert after["reminder_sent_at"] is not None
    assert after["reminder_sent_at"] > first["sent_at"]
    # Still the same request: sent once, at the same time.
    assert (after["state"], after["sent_at"]) == ("sent", first["sent_at"])
    listed = await account.get("/feedback_requests", params={"per_page": 100})
    [shown] = [r for r in listed.json() if r["id"] == created["id"]]
    assert shown["reminder_sent_at"] == after["reminder_sent_at"]

    # Never twice.
    await dispatch(app, smtp.url, later=30 * DAY)
    assert len(smtp.to(to)) == 2


async def test_no_reminder_when_it_is_off(app: FastAPI, account: Account, smtp: SmtpServer) -> None:
    to, shown = await sent_then_later(app, account, smtp, 60)
    assert len(smtp.to(to)) == 1
    assert shown["reminder_sent_at"] is None


async def test_the_survey_setting_overrides_the_account(
    app: FastAPI, client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    sooner = await make_account(app, client, survey={**SURVEY, "reminder_after_days": 1})
    await reminders_after(app, sooner, 5)
    to, shown = await sent_then_later(app, sooner, smtp, 1.01)
    assert len(smtp.to(to)) == 2 and shown["reminder_sent_at"] is not None

    # 0 on the survey turns reminders off even though the account has them.
    off = await make_account(app, client, survey={**SURVEY, "reminder_after_days": 0})
    await reminders_after(app, off, 1)
    to, shown = await sent_then_later(app, off, smtp, 10)
    assert len(smtp.to(to)) == 1 and shown["reminder_sent_at"] is None


async def test_no_reminder_after_an_answer_and_the_answer_counts_once(
    app: FastAPI, account: Account, client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    await reminders_after(app, account, 2)
    answered, silent = address("ann"), address("sam")
    first = await create_request(account, email=answered)
    second = await create_request(account, email=silent)
    await dispatch(app, smtp.url)
    q = [int(question["id"]) for question in account.survey["questions"]]
    link = survey_link(smtp.one_to(answered))
    assert (await answer(client, link, {q[0]: "9", q[1]: "4", q[3]: "Yes"})).status_code == 303
    assert await rates(account) == [(2, 2, 1)] * 2

    await dispatch(app, smtp.url, later=2 * DAY + 60)
    assert len(smtp.to(answered)) == 1  # answered: no reminder
    assert len(smtp.to(silent)) == 2
    assert (await fetch_request(account, first["id"]))["reminder_sent_at"] is None
    # A reminder is not a new request: the response rate is as it was.
    assert await rates(account) == [(2, 2, 1)] * 2

    # An answer through the reminder is the reply to the request.
    reminder = smtp.to(silent)[1].message
    assert (
        await answer(client, survey_link(reminder), {q[0]: "3", q[1]: "2", q[3]: "No"})
    ).status_code == 303
    assert await rates(account) == [(2, 2, 2)] * 2
    responses = (await account.get("/feedback_responses")).json()
    linked = {r["feedback_request"]["id"]: r["feedback_request"] for r in responses}
    assert set(linked) == {first["id"], second["id"]}
    assert linked[second["id"]]["reminder_sent_at"] is not None
    assert linked[first["id"]]["reminder_sent_at"] is None


async def test_no_reminder_after_an_unsubscribe(
    app: FastAPI, account: Account, client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    await reminders_after(app, account, 2)
    to = address("leaver")
    created = await create_request(account, email=to)
    await dispatch(app, smtp.url)
    link = smtp.one_to(to)["List-Unsubscribe"].strip("<>")
    r = await client.post(
        "/" + link.split("/", 3)[3],
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    await dispatch(app, smtp.url, later=3 * DAY)
    assert len(smtp.to(to)) == 1
    assert (await fetch_request(account, created["id"]))["reminder_sent_at"] is None


async def test_no_reminder_to_an_address_that_bounced(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    await reminders_after(app, account, 2)
    rejected, bounced = address("rejected"), address("bounced")
    smtp.reply_data(rejected, "550 5.1.1 no such user")
    first = await create_request(account, email=rejected)
    second = await create_request(account, email=bounced)
    await dispatch(app, smtp.url)
    assert (await fetch_request(account, first["id"]))["delivery_failure"]
    # A bounce reported after the e-mail was accepted.
    async with app.state.engine.begin() as conn:
        assert await dispatch_repo.record_bounce(conn, second["id"], "550 mailbox gone", utcnow())

    # The hard-bounce rule: another of the account's e-mails to the address bounced.
    elsewhere = await create_request(account, email=bounced.upper())
    await dispatch(app, smtp.url)  # not sent either: the address bounced recently
    assert (await fetch_request(account, elsewhere["id"]))["state"] == "not_sent"

    await dispatch(app, smtp.url, later=3 * DAY)
    assert smtp.to(rejected) == [] and len(smtp.to(bounced)) == 1
    for created in (first, second):
        assert (await fetch_request(account, created["id"]))["reminder_sent_at"] is None


async def test_no_reminder_when_another_email_to_the_address_bounced(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    await reminders_after(app, account, 2)
    to = address("twice")
    kept = await create_request(account, email=to)
    other = await create_request(account, email=to)
    await dispatch(app, smtp.url)
    assert len(smtp.to(to)) == 2
    # Only the other request's e-mail bounced: this one has no delivery_failure of its own.
    async with app.state.engine.begin() as conn:
        assert await dispatch_repo.record_bounce(conn, other["id"], "550 mailbox gone", utcnow())
    assert (await fetch_request(account, kept["id"]))["delivery_failure"] is None

    await dispatch(app, smtp.url, later=3 * DAY)
    assert len(smtp.to(to)) == 2
    assert (await fetch_request(account, kept["id"]))["reminder_sent_at"] is None


async def test_no_reminder_after_an_erasure_or_for_a_removed_survey(
    app: FastAPI, client: httpx.AsyncClient, account: Account, smtp: SmtpServer
) -> None:
    await reminders_after(app, account, 2)
    erased_to = address("erased")
    erased = await create_request(account, email=erased_to)
    archived = await make_account(app, client)
    await reminders_after(app, archived, 2)
    removed_to = address("removed")
    await create_request(archived, email=removed_to)
    await dispatch(app, smtp.url)
    assert (await account.delete(f"/feedback_requests/{erased['id']}")).status_code == 204
    async with app.state.engine.begin() as conn:
        await surveys.set_archived(conn, archived.id, archived.survey_id, True)

    await dispatch(app, smtp.url, later=3 * DAY)
    assert len(smtp.to(erased_to)) == 1 and len(smtp.to(removed_to)) == 1
    shown = await fetch_request(account, erased["id"])
    assert shown["deletion_requested_at"] is not None and shown["reminder_sent_at"] is None


async def test_two_dispatchers_at_once_send_each_reminder_once(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    """PostgreSQL: row claims (SKIP LOCKED); SQLite: the two take turns at the one writer."""
    await reminders_after(app, account, 1)
    targets = [address(f"many{i}") for i in range(40)]
    for to in targets:
        await create_request(account, email=to)
    await dispatch(app, smtp.url)
    assert all(len(smtp.to(to)) == 1 for to in targets)

    def dispatcher(n: int) -> Dispatcher:
        return Dispatcher(
            app.state.engine,
            settings(smtp.url, dispatch_batch_size=7, smtp_connections=3),
            owner=f"reminders-{n}",
            clock=lambda: utcnow() + dt.timedelta(days=1, minutes=1),
        )

    first, second = dispatcher(1), dispatcher(2)
    await asyncio.wait_for(asyncio.gather(first.drain(), second.drain()), DRAIN_TIMEOUT)
    assert [len(smtp.to(to)) for to in targets] == [2] * len(targets)
    assert first.stats.reminders + second.stats.reminders == len(targets)


async def test_an_account_template_words_its_reminder_itself(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    await reminders_after(app, account, 2)
    async with app.state.engine.begin() as conn:
        template = await accounts.create_template(
            conn,
            account.id,
            name="Custom",
            subject="Quick question for {{ first_name }}",
            body="{% if reminder %}Still time, {% else %}Hello, {% endif %}{{ first_name }}: "
            "{{ survey_link }}\n\nOpt out: {{ unsubscribe_link }}\n",
        )
    to, shown = await sent_then_later(
        app, account, smtp, 2.01, first_name="Kate", email_template_id=template["id"]
    )
    first, reminder = (m.message for m in smtp.to(to))
    assert first["Subject"] == "Quick question for Kate"
    assert reminder["Subject"] == "Reminder: Quick question for Kate"
    assert parts(first)[0].startswith("Hello, Kate: ")
    assert parts(reminder)[0].startswith("Still time, Kate: ")
    assert survey_link(reminder) == survey_link(first)
    assert shown["reminder_sent_at"] is not None


async def test_the_reminder_speaks_the_customers_language(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    await reminders_after(app, account, 2)
    to, shown = await sent_then_later(
        app, account, smtp, 2.01, data=[{"key": "language", "value": "de"}]
    )
    first, reminder = (m.message for m in smtp.to(to))
    assert reminder["Subject"] == "Eine Erinnerung: Wie zufrieden waren Sie mit uns?"
    text, _ = parts(reminder)
    assert "Falls diese E-Mail untergegangen ist" in text
    assert "Falls diese E-Mail" not in parts(first)[0]
    assert shown["reminder_sent_at"] is not None
