"""The whole loop through a real `opensure serve` and a real SMTP server (SPEC §5, §6).

Request via the API → the email arrives → the customer follows its link, fills in the form →
the response is visible through the API; and the email's one-click unsubscribe works.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e_loop.conftest import Inbox
from tests.e2e_loop.server import create_account, serve_with_smtp
from tests.surveys.html import hidden_inputs, parse

pytestmark = pytest.mark.e2e

SURVEY = {
    "name": "Support satisfaction",
    "questions": [
        {"type": "rating", "text": "How likely are you to recommend us?", "nps": True},
        {"type": "rating", "text": "How satisfied were you?", "scale": [1, 5]},
        {"type": "dropdown", "text": "Which product?", "options": ["App", "Web"]},
        {"type": "checkbox", "text": "What did you like?", "options": ["Speed", "Price"]},
        {"type": "text", "text": "Anything else?", "required": False},
    ],
}
DEADLINE = 15.0


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def wait_for_email(inbox: Inbox, address: str) -> EmailMessage:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = inbox.to(address)
        if found:
            assert len(found) == 1, "one request, one email"
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no email to {address} within {DEADLINE} s")


async def wait_until_handled(api: httpx.AsyncClient, request_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        r = await api.get(f"/feedback_requests/{request_id}")
        assert r.status_code == 200, r.text
        if r.json()["state"] != "pending":
            return dict(r.json())
        await asyncio.sleep(0.1)
    raise AssertionError(f"request {request_id} still pending after {DEADLINE} s")


def text_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def test_request_email_answer_response_and_unsubscribe(
    loop_db: str, inbox: Inbox, tmp_path: Path
) -> None:
    kind = "postgresql" if loop_db.startswith("postgresql") else "sqlite"
    async with serve_with_smtp(kind, loop_db, tmp_path / "serve", inbox.port) as server:
        account = await create_account(loop_db, "Acme Loop", SURVEY)
        survey = account.survey
        nps, rating, dropdown, checkbox, text = (q["id"] for q in survey["questions"])
        async with (
            server.client(headers=account.headers) as api,
            httpx.AsyncClient(timeout=10) as browser,
        ):
            # 1. The API creates a request, due now.
            body = {
                "email": "kate@example.com",
                "first_name": "Kate",
                "surname": "Smith",
                "reference": "#1041",
                "send_at": now_iso(),
                "survey_id": survey["id"],
            }
            r = await api.post("/feedback_requests", json=body)
            assert r.status_code == 201, r.text
            request_id = r.json()["id"]

            # 2. The embedded dispatcher sends the email through SMTP.
            email = await wait_for_email(inbox, "kate@example.com")
            assert email["To"] == "Kate Smith <kate@example.com>"
            assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert email["Message-ID"]
            sent = await wait_until_handled(api, request_id)
            assert sent["state"] == "sent" and sent["sent_at"]
            links = re.findall(r"https?://\S+", text_body(email))
            # The survey link itself, not one of the scale's answer links (``&q{id}=``).
            survey_link = next(u for u in links if "/s/" in u and not re.search(r"&q\d+=", u))
            assert survey_link.startswith(f"{server.base_url}/s/{survey['code']}?t=")
            unsubscribe_link = email["List-Unsubscribe"].strip().strip("<>")
            assert unsubscribe_link.startswith(f"{server.base_url}/u/")
            assert unsubscribe_link in links  # the body offers the same link

            # 3. The customer follows the link and answers.
            page = await browser.get(survey_link)
            assert page.status_code == 200
            doc = parse(page.text)
            assert "Hi Kate" in doc.find("main").text
            form = doc.find("form")
            fields: dict[str, Any] = {
                **hidden_inputs(form),
                f"q{nps}": "10",
                f"q{rating}": "5",
                f"q{dropdown}": "App",
                f"q{checkbox}": ["Price", "Speed"],
                f"q{text}": "Fixed in five minutes <3",
            }
            action = f"{server.base_url}{form.get('action')}"
            r = await browser.post(action, data=fields)
            assert r.status_code == 303, r.text
            thanks = await browser.get(f"{server.base_url}{r.headers['location']}")
            assert thanks.status_code == 200
            assert parse(thanks.text).find("h1").text == "Thank you!"

            # 4. The response is there through the API, tied to the request.
            r = await api.get("/feedback_responses", params={"email": "kate@example.com"})
            assert r.status_code == 200, r.text
            [response] = r.json()
            assert response["survey_id"] == survey["id"]
            assert response["reference"] == "#1041"
            assert response["fields"]["email"] == "kate@example.com"
            assert response["fields"]["name"] == "Kate Smith"
            assert response["feedback_request"]["id"] == request_id
            assert {a["question_id"]: (a["answer"], a["type"]) for a in response["answers"]} == {
                nps: ("10", "Rating"),
                rating: ("5", "Rating"),
                dropdown: ("App", "Dropdown"),
                checkbox: ("Speed, Price", "Checkbox"),
                text: ("Fixed in five minutes <3", "Text"),
            }

            # 5. One-click unsubscribe (RFC 8058), as a mail client sends it.
            r = await browser.post(
                unsubscribe_link,
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert r.status_code == 200
            assert "unsubscribed" in parse(r.text).find("h1").text

            # 6. A later request to that address is not sent, whatever its case.
            r = await api.post("/feedback_requests", json={**body, "email": "KATE@example.com"})
            assert r.status_code == 201, r.text
            later = await wait_until_handled(api, r.json()["id"])
            assert later["state"] == "not_sent"
            assert later["not_sent_reason"] == "recipient unsubscribed"
            assert len(inbox.to("KATE@example.com")) == 0
            assert len(inbox.to("kate@example.com")) == 1
    assert "Traceback" not in server.stderr()
