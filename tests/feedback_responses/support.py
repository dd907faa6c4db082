"""Getting responses the way customers leave them: through the emailed link or anonymously."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import Account
from tests.dispatch.support import (
    SmtpServer,
    answer,
    create_request,
    dispatch,
    survey_link,
)

FULL_SURVEY = {
    "name": "Everything",
    "questions": [
        {"type": "rating", "text": "How likely are you to recommend us?", "nps": True},
        {"type": "text", "text": "Anything else?", "required": False},
        {"type": "dropdown", "text": "Which product?", "options": ["App", "Web"]},
        {"type": "radio", "text": "Was your issue solved?", "options": ["Yes", "No"]},
        {
            "type": "checkbox",
            "text": "What did you like?",
            "options": ["Speed", "Friendliness", "Price"],
        },
    ],
}
UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def qids(account: Account) -> list[int]:
    return [int(q["id"]) for q in account.survey["questions"]]


def full_answers(account: Account, **override: Any) -> dict[int, str | list[str]]:
    rating, text, dropdown, radio, checkbox = qids(account)
    answers: dict[int, str | list[str]] = {
        rating: "9",
        text: "Quick and friendly, thanks!",
        dropdown: "Web",
        radio: "Yes",
        checkbox: ["Speed", "Price"],
    }
    for key, value in override.items():
        answers[
            {
                "rating": rating,
                "text": text,
                "dropdown": dropdown,
                "radio": radio,
                "checkbox": checkbox,
            }[key]
        ] = value
    return answers


async def emailed_link(
    app: FastAPI, account: Account, smtp: SmtpServer, **request_fields: Any
) -> tuple[dict[str, Any], str]:
    """Create a request due now, dispatch it, and return it with the survey link it emailed."""
    created = await create_request(account, **request_fields)
    await dispatch(app, smtp.url)
    return created, survey_link(smtp.one_to(created["email"]))


async def answer_ok(
    client: httpx.AsyncClient, link: str, answers: dict[int, str | list[str]], **contact: str
) -> None:
    r = await answer(client, link, answers, **contact)
    assert r.status_code == 303, r.text
    code = link.split("/s/", 1)[1].split("?", 1)[0]
    assert r.headers["location"].endswith(f"/s/{code}/thanks")


async def respond_anonymously(
    client: httpx.AsyncClient, account: Account, email: str, **override: Any
) -> None:
    contact = {"name": "Anon Ymous", "email": email, "telephone_number": "01234 567 890"}
    await answer_ok(
        client, f"/s/{account.survey['code']}", full_answers(account, **override), **contact
    )


async def list_responses(account: Account, **params: Any) -> httpx.Response:
    r = await account.get("/feedback_responses", params=params)
    assert r.status_code == 200, r.text
    return r
