"""Webhook events (SPEC §9) reach a real receiver on 127.0.0.1: written in the transaction of
the change, signed as Standard Webhooks says (verified with its reference implementation),
retried with one webhook-id, never sent to another account. Both engines."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import httpx
import pytest
from fastapi import FastAPI
from standardwebhooks import Webhook

from opensure.accounts import service as accounts
from opensure.core.clock import utcnow
from opensure.dispatch.webhooks import WebhookSender
from opensure.dispatch.worker import Dispatcher
from opensure.feedback_requests.events import DispatchEvents
from opensure.webhooks import service as webhooks
from tests.conftest import Account
from tests.dispatch.support import (
    DRAIN_TIMEOUT,
    SmtpServer,
    answer,
    create_request,
    fetch_request,
    settings,
    survey_link,
)
from tests.webhooks.support import Receiver, create_endpoint, deliver, emit, show


async def dispatch_with_events(app: FastAPI, mail_url: str) -> int:
    """A dispatcher wired as ``opensure serve`` wires it (writing webhook events)."""
    dispatcher = Dispatcher(app.state.engine, settings(mail_url), events=DispatchEvents())
    return await asyncio.wait_for(dispatcher.drain(), DRAIN_TIMEOUT)


def answers(account: Account) -> dict[int, str]:
    nps, rating, text, radio = (int(q["id"]) for q in account.survey["questions"])
    return {nps: "9", rating: "4", text: "Quick, thanks", radio: "Yes"}


async def test_sent_created_updated_arrive_signed_with_the_apis_json(
    app: FastAPI, account: Account, client: httpx.AsyncClient, smtp: SmtpServer, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(app, account.id, receiver.url)
    created = await create_request(account)
    await dispatch_with_events(app, smtp.url)
    link = survey_link(smtp.one_to(created["email"]))
    assert (await answer(client, link, answers(account))).status_code == 303
    assert (await answer(client, link, {**answers(account), **{}})).status_code == 303

    await deliver(app)
    # Events are delivered side by side: in no promised order.
    order = ["feedback_request.sent", "feedback_response.created", "feedback_response.updated"]
    bodies = sorted(receiver.verified(endpoint["secret"]), key=lambda b: order.index(b["type"]))
    assert [b["type"] for b in bodies] == order
    assert all(h.headers["content-type"] == "application/json" for h in receiver.hits)
    assert len({h.id for h in receiver.hits}) == 3
    # data is exactly what the API's GET returns.
    assert bodies[0]["data"] == await fetch_request(account, created["id"])
    response_id = bodies[2]["data"]["id"]
    r = await account.get(f"/feedback_responses/{response_id}")
    assert bodies[2]["data"] == r.json()
    assert bodies[1]["data"]["id"] == response_id
    assert bodies[1]["data"]["answers"] == r.json()["answers"]
    for body in bodies:
        moment = dt.datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
        assert abs((utcnow() - moment).total_seconds()) < 60
    shown = await show(app, endpoint["id"])
    assert shown["pending_events"] == 0
    assert [d["status_code"] for d in shown["deliveries"]] == [200, 200, 200]
    assert shown["deliveries"][0]["response"] == "answered 200"


async def test_a_5xx_reply_is_a_delivery_failed_event(
    app: FastAPI, account: Account, smtp: SmtpServer, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(
        app, account.id, receiver.url, events="feedback_request.delivery_failed"
    )
    bounced = await create_request(account)
    fine = await create_request(account)
    smtp.reply_data(bounced["email"], "550 5.1.1 No such mailbox")
    await dispatch_with_events(app, smtp.url)
    assert len(smtp.to(fine["email"])) == 1

    await deliver(app)
    (body,) = receiver.verified(endpoint["secret"])  # not the "sent" of the other request
    assert body["type"] == "feedback_request.delivery_failed"
    assert body["data"]["id"] == bounced["id"]
    assert "No such mailbox" in body["data"]["delivery_failure"]
    assert body["data"] == await fetch_request(account, bounced["id"])


async def test_500_then_200_gets_the_event_twice_with_one_webhook_id(
    app: FastAPI, account: Account, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(app, account.id, receiver.url)
    receiver.answer(500)
    (event_id,) = await emit(app, account.id, "feedback_response.created", {"id": 1})

    await deliver(app)
    assert len(receiver.hits) == 1
    await deliver(app)  # not due yet: the first retry is 10 s later
    assert len(receiver.hits) == 1
    await deliver(app, later=11)

    assert [h.id for h in receiver.hits] == [event_id, event_id]
    assert receiver.verified(endpoint["secret"])[1]["data"] == {"id": 1}
    shown = await show(app, endpoint["id"])
    assert [d["status_code"] for d in shown["deliveries"]] == [200, 500]
    assert shown["deliveries"][1]["response"] == "answered 500"
    assert shown["pending_events"] == 0 and not shown["failing"]


async def test_a_receiver_down_for_a_while_gets_everything_once_back(
    app: FastAPI, account: Account
) -> None:
    receiver = Receiver()  # not started: connections are refused
    endpoint = await create_endpoint(app, account.id, receiver.url)
    sent = [
        (await emit(app, account.id, "feedback_response.created", {"n": n}))[0] for n in range(5)
    ]
    await deliver(app)
    await deliver(app, later=11)
    shown = await show(app, endpoint["id"])
    assert shown["pending_events"] == 5
    assert all(d["status_code"] is None and d["error"] for d in shown["deliveries"])

    receiver.start()
    try:
        await deliver(app, later=11 + 31)
    finally:
        receiver.stop()
    assert sorted(h.id for h in receiver.hits) == sorted(sent)
    assert sorted(b["data"]["n"] for b in receiver.verified(endpoint["secret"])) == list(range(5))
    assert (await show(app, endpoint["id"]))["pending_events"] == 0


async def test_events_never_cross_accounts(
    app: FastAPI, account: Account, other_account: Account, smtp: SmtpServer, receiver: Receiver
) -> None:
    other = Receiver()
    other.start()
    try:
        mine = await create_endpoint(app, account.id, receiver.url)
        theirs = await create_endpoint(app, other_account.id, other.url)
        created = await create_request(account)
        await dispatch_with_events(app, smtp.url)
        await emit(app, other_account.id, "feedback_response.created", {"theirs": True})
        await deliver(app)
    finally:
        other.stop()
    assert [b["data"].get("id") for b in receiver.verified(mine["secret"])] == [created["id"]]
    assert [b["data"] for b in other.verified(theirs["secret"])] == [{"theirs": True}]


async def test_an_endpoint_gets_only_the_types_it_asked_for(
    app: FastAPI, account: Account, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(app, account.id, receiver.url, events="feedback_request.sent")
    assert await emit(app, account.id, "feedback_response.created", {}) == []
    assert len(await emit(app, account.id, "feedback_request.sent", {})) == 1
    await deliver(app)
    assert [b["type"] for b in receiver.verified(endpoint["secret"])] == ["feedback_request.sent"]


async def test_rotation_sends_both_signatures_for_24_hours(
    app: FastAPI, account: Account, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(app, account.id, receiver.url)
    async with app.state.engine.begin() as conn:
        rotated = await webhooks.rotate_secret(conn, account.id, endpoint["id"])
    assert rotated["secret"] != endpoint["secret"]
    await emit(app, account.id, "feedback_response.created", {"n": 1})
    await deliver(app)
    (hit,) = receiver.hits
    assert len(hit.headers["webhook-signature"].split(" ")) == 2
    for secret in (endpoint["secret"], rotated["secret"]):
        assert Webhook(secret).verify(hit.body, hit.headers)["data"] == {"n": 1}

    # A day later only the new secret signs (the sender's clock runs 25 hours ahead; the
    # reference implementation checks the timestamp against the real time, so it is not used).
    await emit(app, account.id, "feedback_response.created", {"n": 2})
    await deliver(app, later=25 * 3600)
    signatures = receiver.hits[1].headers["webhook-signature"].split(" ")
    assert len(signatures) == 1
    later = dt.datetime.fromtimestamp(int(receiver.hits[1].headers["webhook-timestamp"]), dt.UTC)
    expected = Webhook(rotated["secret"]).sign(receiver.hits[1].id, later, receiver.hits[1].body)
    assert signatures == [expected]


async def test_given_up_after_three_days_and_the_endpoint_is_failing(
    app: FastAPI, account: Account, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(app, account.id, receiver.url)
    receiver.answer(503, 503)
    await emit(app, account.id, "feedback_response.created", {})
    await deliver(app)
    assert not (await show(app, endpoint["id"]))["failing"]
    await deliver(app, later=3 * 86400 + 60)

    shown = await show(app, endpoint["id"])
    assert shown["failing"] and shown["pending_events"] == 0
    assert "HTTP 503" in shown["failure_reason"] and "2 attempts" in shown["failure_reason"]
    async with app.state.engine.connect() as conn:
        (listed,) = await webhooks.list_endpoints(conn, account.id)
    assert listed["failing"] and listed["failure_reason"] == shown["failure_reason"]

    # A later success clears it.
    await emit(app, account.id, "feedback_response.created", {})
    await deliver(app)
    assert not (await show(app, endpoint["id"]))["failing"]


async def test_a_removed_endpoint_gets_nothing_more(
    app: FastAPI, account: Account, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(app, account.id, receiver.url)
    await emit(app, account.id, "feedback_response.created", {})
    async with app.state.engine.begin() as conn:
        await webhooks.remove_endpoint(conn, account.id, endpoint["id"])
    assert await emit(app, account.id, "feedback_response.created", {}) == []
    await deliver(app)
    assert receiver.hits == []


async def test_a_request_not_sent_is_a_not_sent_event(
    app: FastAPI, account: Account, smtp: SmtpServer, receiver: Receiver
) -> None:
    endpoint = await create_endpoint(app, account.id, receiver.url)
    gone = await create_request(account)
    async with app.state.engine.begin() as conn:
        await accounts.add_unsubscribe(conn, account.id, gone["email"])
    await dispatch_with_events(app, smtp.url)
    assert smtp.to(gone["email"]) == []

    await deliver(app)
    (body,) = receiver.verified(endpoint["secret"])
    assert body["type"] == "feedback_request.not_sent"
    assert "unsubscribed" in body["data"]["not_sent_reason"].lower()
    assert body["data"] == await fetch_request(account, gone["id"])


async def test_a_rolled_back_change_writes_no_event(
    app: FastAPI, account: Account, receiver: Receiver
) -> None:
    await create_endpoint(app, account.id, receiver.url)

    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        async with app.state.engine.begin() as conn:
            assert await webhooks.emit(conn, account.id, "feedback_response.created", {})
            raise Undo
    await deliver(app)
    assert receiver.hits == []


async def test_a_running_sender_wakes_when_an_event_is_written(
    app: FastAPI, account: Account, receiver: Receiver
) -> None:
    """An idle sender that would look again only after a minute delivers an event written
    meanwhile at once: NOTIFY on PostgreSQL, the process's own wake-up on SQLite."""
    endpoint = await create_endpoint(app, account.id, receiver.url)
    running = WebhookSender(app.state.engine, interval=60.0)
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(stop))
    try:
        await asyncio.sleep(0.5)  # idle by now: its first look found nothing
        written = time.monotonic()
        [event_id] = await emit(app, account.id, "feedback_response.created", {"n": 1})
        for _ in range(500):  # the receiver is a thread: look every 20 ms, for 10 s at most
            if receiver.hits:
                break
            await asyncio.sleep(0.02)
        assert [h.id for h in receiver.hits] == [event_id]
        assert time.monotonic() - written < 10  # long before the next poll
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    shown = await show(app, endpoint["id"])
    assert shown["pending_events"] == 0
    assert [d["status_code"] for d in shown["deliveries"]] == [200]
