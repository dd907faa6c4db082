"""The console's webhook pages (/app/settings/webhooks and /app/settings/webhooks/{id}): an
admin adds endpoints (the secret shown once), rotates and removes them, reads an endpoint's
delivery log, sends a test event and redelivers one, through the real app on SQLite and
PostgreSQL, with deliveries to a real receiver on 127.0.0.1; viewers and other accounts get
nothing. Addresses are checked with a stub resolver (no DNS)."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from standardwebhooks import Webhook

from opensure.audit import service as audit
from opensure.console import webhooks as console_webhooks
from opensure.webhooks import service as webhooks
from tests.conftest import Account
from tests.console.conftest import csrf, form_with_action
from tests.webhooks.conftest import receiver
from tests.webhooks.support import Receiver, create_endpoint, deliver, emit, stub_resolver

LIST = "/app/settings/webhooks"
# A documentation-style public address from the stub resolver: never connected to (no event
# is ever written for an endpoint on it).
__all__ = ["receiver"]  # the real receiver on 127.0.0.1 of the webhook tests
PUBLIC = "93.184.215.14"
URL = "https://hooks.example.test/opensure"


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_webhooks, "resolve", stub_resolver(PUBLIC))


async def endpoints(app: FastAPI, account: Account) -> list[dict[str, Any]]:
    async with app.state.engine.connect() as conn:
        return await webhooks.list_endpoints(conn, account.id)


async def audit_events(app: FastAPI, account: Account) -> list[dict[str, Any]]:
    async with app.state.engine.connect() as conn:
        return await audit.events(conn, account.id, subject_type="webhook")


async def add(client: httpx.AsyncClient, url: str, *events: str) -> httpx.Response:
    token = await csrf(client, LIST)
    return await client.post(LIST, data={"csrf_token": token, "url": url, "events": list(events)})


def new_secret(page: httpx.Response) -> str:
    found = re.search(
        r'id="new-secret".*?<code class="secret">(whsec_[^<]+)</code>', page.text, re.S
    )
    assert found, "no new secret on the page"
    return html.unescape(found[1])


async def post_form(client: httpx.AsyncClient, page: str, action: str) -> httpx.Response:
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text
    return await client.post(action, data=form_with_action(shown.text, action))


async def test_the_list_shows_endpoints_and_their_state(
    app: FastAPI, account: Account, other_account: Account, admin: httpx.AsyncClient
) -> None:
    await create_endpoint(app, account.id, "http://127.0.0.1:9/first", "feedback_request.sent")
    await create_endpoint(app, other_account.id, "http://127.0.0.1:9/strangers")
    page = await admin.get(LIST)
    assert page.status_code == 200
    assert "http://127.0.0.1:9/first" in page.text
    assert "<code>feedback_request.sent</code>" in page.text
    assert "Active" in page.text
    assert "strangers" not in page.text
    assert 'href="/app/settings/webhooks" aria-current="page">Webhooks<' in page.text


async def test_a_failing_endpoint_shows_since_when_and_why(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    made = await create_endpoint(app, account.id, receiver.url)
    receiver.answer(503)
    [event_id] = await emit(app, account.id, "feedback_request.sent", {"id": 1})
    assert await deliver(app, later=4 * 86400) == 1  # past the three days of retries
    row = re.search(rf'<tr id="webhook-{made["id"]}">.*?</tr>', (await admin.get(LIST)).text, re.S)
    assert row, "endpoint not listed"
    assert "<strong>Failing</strong> since" in row[0]
    assert f"Gave up on event {event_id} after 1 attempts: HTTP 503" in row[0]


async def test_add_an_endpoint_shows_its_secret_once_and_records_it(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    made = await add(admin, URL, "feedback_response.created", "feedback_request.sent")
    assert made.status_code == 200, made.text
    secret = new_secret(made)
    assert "will not be shown again" in made.text
    assert secret not in str(made.url)
    [endpoint] = await endpoints(app, account)
    assert endpoint["url"] == URL
    assert endpoint["events"] == ["feedback_response.created", "feedback_request.sent"]
    again = await admin.get(LIST)
    assert URL in again.text and secret not in again.text
    [event] = await audit_events(app, account)
    assert event["action"] == "webhook.created"
    assert event["subject_id"] == str(endpoint["id"])
    assert secret not in str(event) and "whsec_" not in str(event)


async def test_no_event_ticked_means_every_type(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    assert (await add(admin, URL)).status_code == 200
    [endpoint] = await endpoints(app, account)
    assert endpoint["events"] == "all"


async def test_a_private_address_is_refused_with_the_services_message(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    refused = await add(admin, "http://127.0.0.1:9/hook", "feedback_request.sent")
    assert refused.status_code == 422
    assert "127.0.0.1, a loopback address" in refused.text
    assert 'value="http://127.0.0.1:9/hook"' in refused.text  # the typed URL kept
    assert re.search(r'value="feedback_request.sent" checked', refused.text)
    assert 'aria-describedby="webhook-problem"' in refused.text
    assert "allow_private" not in str(form_with_action(refused.text, LIST))  # never offered
    assert await endpoints(app, account) == []
    assert await audit_events(app, account) == []


async def test_bad_input_is_refused_and_nothing_is_made(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    unknown = await add(admin, URL, "nope")
    assert unknown.status_code == 422
    assert "Unknown event type &#39;nope&#39;" in unknown.text
    ftp = await add(admin, "ftp://hooks.example.test/x")
    assert ftp.status_code == 422
    assert await endpoints(app, account) == []


async def test_remove_an_endpoint(app: FastAPI, account: Account, admin: httpx.AsyncClient) -> None:
    made = await create_endpoint(app, account.id, "http://127.0.0.1:9/gone")
    removed = await post_form(admin, LIST, f"{LIST}/{made['id']}/remove")
    assert removed.status_code == 303
    page = await admin.get(removed.headers["location"])
    assert "The endpoint is removed" in page.text
    assert "127.0.0.1:9/gone" not in page.text
    assert await endpoints(app, account) == []
    [event] = await audit_events(app, account)
    assert event["action"] == "webhook.removed" and event["after"] is None
    assert "whsec_" not in str(event)


async def test_rotate_shows_the_new_secret_once_and_the_old_one_still_signs(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    made = await create_endpoint(app, account.id, receiver.url)
    rotated = await post_form(admin, LIST, f"{LIST}/{made['id']}/rotate")
    assert rotated.status_code == 200
    secret = new_secret(rotated)
    assert secret != made["secret"]
    assert "will not be shown again" in rotated.text
    assert "the old secret keeps signing" in rotated.text
    assert secret not in (await admin.get(LIST)).text
    await emit(app, account.id, "feedback_request.sent", {"id": 1})
    assert await deliver(app) == 1
    assert Webhook(secret).verify(receiver.hits[0].body, receiver.hits[0].headers)
    assert Webhook(made["secret"]).verify(receiver.hits[0].body, receiver.hits[0].headers)
    [event] = await audit_events(app, account)
    assert event["action"] == "webhook.secret_rotated"
    assert "whsec_" not in str(event)


async def test_the_log_shows_deliveries_newest_first(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    made = await create_endpoint(app, account.id, receiver.url)
    receiver.answer(500)
    [first] = await emit(app, account.id, "feedback_response.created", {"id": 1})
    assert await deliver(app) == 1
    [second] = await emit(app, account.id, "feedback_request.sent", {"id": 2})
    assert await deliver(app) == 1
    page = await admin.get(f"{LIST}/{made['id']}")
    assert page.status_code == 200
    assert page.text.index(second) < page.text.index(first)
    assert "HTTP 500" in page.text and "HTTP 200" in page.text
    assert "answered 500" in page.text and " ms</td>" in page.text
    assert "<code>feedback_response.created</code>" in page.text
    assert "Events waiting: 1." in page.text  # the first one, retried later


async def test_send_a_test_event_through_the_outbox(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    made = await create_endpoint(app, account.id, receiver.url, "feedback_request.sent")
    page = f"{LIST}/{made['id']}"
    sent = await post_form(admin, page, f"{page}/test")
    assert sent.status_code == 303
    assert "A test event is queued" in (await admin.get(sent.headers["location"])).text
    assert receiver.hits == []  # queued, not sent by the web process
    assert await deliver(app) == 1
    [body] = receiver.verified(made["secret"])
    assert body["type"] == "webhook.test"
    assert body["data"]["endpoint_id"] == made["id"]
    log = await admin.get(page)
    assert "<code>webhook.test</code>" in log.text and receiver.hits[0].id in log.text
    [event] = await audit_events(app, account)
    assert event["action"] == "webhook.test_sent"
    assert event["after"]["event_id"] == receiver.hits[0].id


async def test_redeliver_sends_the_same_event_again_now(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    made = await create_endpoint(app, account.id, receiver.url)
    [event_id] = await emit(app, account.id, "feedback_request.sent", {"id": 7})
    assert await deliver(app) == 1
    assert await deliver(app) == 0  # delivered: nothing due
    page = f"{LIST}/{made['id']}"
    shown = await admin.get(page)
    data = form_with_action(shown.text, f"{page}/redeliver")
    assert data["event"] == event_id
    again = await admin.post(f"{page}/redeliver", data=data)
    assert again.status_code == 303
    assert "The event is due again" in (await admin.get(again.headers["location"])).text
    assert await deliver(app) == 1
    assert [h.id for h in receiver.hits] == [event_id, event_id]
    assert receiver.hits[0].body == receiver.hits[1].body
    [recorded] = await audit_events(app, account)
    assert recorded["action"] == "webhook.redelivered"
    assert recorded["after"]["event_id"] == event_id


async def test_redeliver_an_unknown_event_is_not_found(
    app: FastAPI, account: Account, other_account: Account, admin: httpx.AsyncClient
) -> None:
    made = await create_endpoint(app, account.id, "http://127.0.0.1:9/mine")
    theirs = await create_endpoint(app, other_account.id, "http://127.0.0.1:9/theirs")
    [their_event] = await emit(app, other_account.id, "feedback_request.sent", {"id": 1})
    token = await csrf(admin, LIST)
    refused = await admin.post(
        f"{LIST}/{made['id']}/redeliver", data={"csrf_token": token, "event": their_event}
    )
    assert refused.status_code == 404
    assert theirs["id"] != made["id"]
    assert await audit_events(app, account) == []


async def test_viewer_gets_403_and_changes_nothing(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, viewer: httpx.AsyncClient
) -> None:
    made = await create_endpoint(app, account.id, "http://127.0.0.1:9/kept")
    assert (await viewer.get(LIST)).status_code == 403
    assert (await viewer.get(f"{LIST}/{made['id']}")).status_code == 403
    assert 'href="/app/settings/webhooks"' not in (await viewer.get("/app/settings/staff")).text
    token = await csrf(viewer, "/app/account")
    for action in ("remove", "rotate", "test", "redeliver"):
        response = await viewer.post(f"{LIST}/{made['id']}/{action}", data={"csrf_token": token})
        assert response.status_code == 403, action
    added = await viewer.post(LIST, data={"csrf_token": token, "url": URL})
    assert added.status_code == 403
    [still] = await endpoints(app, account)
    assert still["url"] == "http://127.0.0.1:9/kept"
    async with app.state.engine.connect() as conn:
        assert (await webhooks.show_endpoint(conn, None, made["id"]))["pending_events"] == 0
    assert await audit_events(app, account) == []


async def test_another_accounts_endpoint_is_not_found(
    app: FastAPI, account: Account, other_account: Account, admin: httpx.AsyncClient
) -> None:
    theirs = await create_endpoint(app, other_account.id, "http://127.0.0.1:9/theirs")
    assert (await admin.get(f"{LIST}/{theirs['id']}")).status_code == 404
    assert (await admin.get(f"{LIST}/nope")).status_code == 404
    token = await csrf(admin, LIST)
    for action in ("remove", "rotate", "test", "redeliver"):
        response = await admin.post(f"{LIST}/{theirs['id']}/{action}", data={"csrf_token": token})
        assert response.status_code == 404, action
    [still] = await endpoints(app, other_account)
    assert still["url"] == "http://127.0.0.1:9/theirs"
    async with app.state.engine.connect() as conn:
        assert (await webhooks.show_endpoint(conn, None, theirs["id"]))["pending_events"] == 0
    assert await audit_events(app, other_account) == []
