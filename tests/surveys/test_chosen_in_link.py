"""A survey link that chooses an answer (``&q{id}={value}``, from a one-click e-mail's scale)
opens the survey with that value chosen and the rest below; a GET never records anything."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.surveys.conftest import Survey, create_request, post_form, responses_of
from tests.surveys.html import Node, hidden_inputs, parse


async def page(client: httpx.AsyncClient, code: str, params: list[tuple[str, str]]) -> Node:
    r = await client.get(f"/s/{code}", params=params)
    assert r.status_code == 200, r.text
    return parse(r.text)


def checked(doc: Node, qid: int) -> list[str]:
    return [
        str(i.get("value"))
        for i in doc.find_all("input", name=f"q{qid}")
        if "checked" in i.attrs or "selected" in i.attrs
    ] + [
        str(o.get("value"))
        for s in doc.find_all("select", name=f"q{qid}")
        for o in s.find_all("option")
        if "selected" in o.attrs
    ]


async def test_a_score_link_opens_the_survey_with_the_score_chosen(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    _, token = await create_request(app, survey.account, due=True)
    doc = await page(client, survey.code, [("t", token), (f"q{survey.nps}", "7")])
    assert checked(doc, survey.nps) == ["7"]
    # The rest of the survey is below, unanswered; the form posts back the link's token.
    assert checked(doc, survey.rating) == []
    assert doc.find("textarea", name=f"q{survey.text}") is not None
    assert hidden_inputs(doc.find("form"))["t"] == token
    # Nothing is recorded by opening it.
    assert await responses_of(survey.account) == []


async def test_radio_and_dropdown_values_are_chosen_too_and_anonymous_pages_take_them(
    client: httpx.AsyncClient, survey: Survey
) -> None:
    params = [
        (f"q{survey.rating}", "5"),
        (f"q{survey.radio}", "No"),
        (f"q{survey.dropdown}", "App"),
    ]
    doc = await page(client, survey.code, params)  # anonymous: no token
    assert checked(doc, survey.rating) == ["5"]
    assert checked(doc, survey.radio) == ["No"]
    assert checked(doc, survey.dropdown) == ["App"]
    assert checked(doc, survey.nps) == []
    assert await responses_of(survey.account) == []


async def test_values_a_question_does_not_offer_and_unknown_questions_are_ignored(
    client: httpx.AsyncClient, survey: Survey
) -> None:
    for params in (
        [(f"q{survey.nps}", "11")],
        [(f"q{survey.nps}", "-1")],
        [(f"q{survey.nps}", "seven")],
        [(f"q{survey.nps}", "7.5")],
        [(f"q{survey.nps}", "\N{SUPERSCRIPT TWO}")],
        [(f"q{survey.rating}", "0")],  # its scale is 1 to 5
        [(f"q{survey.radio}", "Maybe")],
        [(f"q{survey.dropdown}", "<script>")],
        [(f"q{survey.checkbox}", "Price")],  # only ratings, radios and dropdowns
        [(f"q{survey.text}", "Injected text")],
        [("q999999999", "7"), ("qx", "7"), ("q", "7")],
    ):
        doc = await page(client, survey.code, params)
        for qid in (survey.nps, survey.rating, survey.radio, survey.dropdown, survey.checkbox):
            assert checked(doc, qid) == [], params
        assert "Injected text" not in doc.find("textarea", name=f"q{survey.text}").text
        assert "<script>" not in str(doc.find("form").text)


async def test_the_answer_is_recorded_on_submit_and_a_later_score_link_shows_the_new_score(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    _, token = await create_request(app, survey.account, due=True)
    doc = await page(client, survey.code, [("t", token), (f"q{survey.nps}", "3")])
    fields: dict[str, Any] = {
        **hidden_inputs(doc.find("form")),
        **survey.good_answers(**{f"q{survey.nps}": "3"}),
    }
    r = await post_form(client, survey.code, fields)
    assert r.status_code == 303, r.text
    [response] = await responses_of(survey.account)
    nps = next(a for a in response["answers"] if a["question_id"] == survey.nps)
    assert nps["answer"] == "3"

    # Another click in the e-mail: the new score shows chosen over the one given, and stays
    # unrecorded until sent; the other answers given show as they were.
    doc = await page(client, survey.code, [("t", token), (f"q{survey.nps}", "9")])
    assert checked(doc, survey.nps) == ["9"]
    assert checked(doc, survey.rating) == ["4"]
    [again] = await responses_of(survey.account)
    assert next(a for a in again["answers"] if a["question_id"] == survey.nps)["answer"] == "3"
