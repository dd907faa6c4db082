"""Fixtures for the survey page tests: an account whose survey has every kind of question."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from opensure.models import FeedbackRequest
from tests.conftest import Account, make_account
from tests.surveys.html import Node, hidden_inputs, parse

EVERYTHING = {
    "name": "How did we do?",
    "questions": [
        {"type": "rating", "text": "How likely are you to recommend us?", "nps": True},
        {"type": "rating", "text": "How satisfied were you?", "scale": [1, 5]},
        {"type": "dropdown", "text": "Which product did you use?", "options": ["App", "Web"]},
        {"type": "radio", "text": "Was your issue solved?", "options": ["Yes", "No"]},
        {
            "type": "checkbox",
            "text": "What did you like?",
            "options": ["Speed", "Friendliness", "Price"],
            "required": False,
        },
        {"type": "text", "text": "Anything else?", "required": False},
    ],
}


@dataclass
class Survey:
    """The 'everything' survey of one account, with its question ids by kind."""

    account: Account
    code: str
    nps: int
    rating: int
    dropdown: int
    radio: int
    checkbox: int
    text: int

    def good_answers(self, **override: Any) -> dict[str, Any]:
        """Valid answers to every question, keyed by form field name."""
        answers: dict[str, Any] = {
            f"q{self.nps}": "9",
            f"q{self.rating}": "4",
            f"q{self.dropdown}": "Web",
            f"q{self.radio}": "Yes",
            f"q{self.checkbox}": ["Price", "Speed"],
            f"q{self.text}": "Quick and friendly.",
        }
        answers.update(override)
        return {k: v for k, v in answers.items() if v is not None}


async def make_survey(app: FastAPI, client: httpx.AsyncClient) -> Survey:
    account = await make_account(app, client, survey=EVERYTHING)
    ids = [q["id"] for q in account.survey["questions"]]
    return Survey(account, account.survey["code"], *ids)


@pytest.fixture
async def survey(app: FastAPI, client: httpx.AsyncClient) -> Survey:
    return await make_survey(app, client)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def create_request(
    app: FastAPI, account: Account, *, due: bool = False, **fields: Any
) -> tuple[dict[str, Any], str]:
    """A feedback request through the API, and the link token its email would carry."""
    when = dt.datetime.now(dt.UTC) + (dt.timedelta(0) if due else dt.timedelta(days=1))
    body = {
        "email": "kate@example.com",
        "first_name": "Kate",
        "surname": "Smith",
        "reference": "#1041",
        "send_at": iso(when),
        "survey_id": account.survey_id,
        **fields,
    }
    r = await account.post("/feedback_requests", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    t = FeedbackRequest.__table__
    async with app.state.engine.connect() as conn:
        token = (await conn.execute(select(t.c.token).where(t.c.id == created["id"]))).scalar_one()
    return created, str(token)


async def open_form(
    client: httpx.AsyncClient, code: str, token: str = ""
) -> tuple[Node, dict[str, str]]:
    """GET the survey page: its document and the hidden inputs of its form."""
    r = await client.get(f"/s/{code}", params={"t": token} if token else None)
    assert r.status_code == 200, r.text
    doc = parse(r.text)
    return doc, hidden_inputs(doc.find("form"))


async def post_form(client: httpx.AsyncClient, code: str, fields: dict[str, Any]) -> httpx.Response:
    """POST form-encoded fields (a list value repeats the name, as checkboxes do)."""
    return await client.post(f"/s/{code}", data=fields)


async def responses_of(account: Account) -> list[dict[str, Any]]:
    r = await account.get("/feedback_responses", params={"survey_ids[]": account.survey_id})
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, list)
    return body
