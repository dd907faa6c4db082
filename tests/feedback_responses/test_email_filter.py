"""GET /feedback_responses?email= compares addresses through the one normaliser
(opensure.core.emails): any case, any Unicode form of the same address, on both engines."""

from __future__ import annotations

import secrets
import unicodedata

import httpx

from tests.conftest import Account
from tests.dispatch.support import SmtpServer
from tests.feedback_responses.support import (
    answer_ok,
    emailed_link,
    full_answers,
    list_responses,
    respond_anonymously,
)


async def test_the_email_filter_finds_every_spelling_of_one_address(
    client: httpx.AsyncClient, surveyed: Account
) -> None:
    local = f"élodie-{secrets.token_hex(4)}"
    given = f"{local}@bücher.example"
    await respond_anonymously(client, surveyed, given)
    spellings = [
        given,
        given.upper(),
        unicodedata.normalize("NFD", given),  # é and ü as letter + combining mark
        unicodedata.normalize("NFD", given.title()),
    ]
    for spelling in spellings:
        found = (await list_responses(surveyed, email=spelling)).json()
        assert [r["fields"]["email"] for r in found] == [given], spelling
    # A different address is not found.
    assert (await list_responses(surveyed, email=f"x{given}")).json() == []


async def test_the_email_filter_finds_responses_to_requests(
    app: object, client: httpx.AsyncClient, surveyed: Account, smtp: SmtpServer
) -> None:
    to = f"Kate-{secrets.token_hex(4)}@Example.COM"
    created, link = await emailed_link(app, surveyed, smtp, email=to)  # type: ignore[arg-type]
    await answer_ok(client, link, full_answers(surveyed))
    (found,) = (await list_responses(surveyed, email=to.lower())).json()
    assert found["feedback_request"]["id"] == created["id"]
    assert found["fields"]["email"] == to
