"""Editing a survey never rewrites history (issue 14 §1): renaming a question, changing its
options or removing it leaves every earlier response reading as the customer saw it, through
the API; kept questions keep their ids; a question's type and NPS flag are fixed; the preview
checks answers and records nothing. Both engines."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from opensure.core.errors import AdminError
from opensure.surveys import admin
from opensure.surveys.importer import SurveyInvalid
from tests.surveys.conftest import (
    Survey,
    create_request,
    open_form,
    post_form,
    responses_of,
)
from tests.surveys.html import parse


async def edit(app: FastAPI, survey: Survey, doc: dict[str, Any]) -> dict[str, Any]:
    async with app.state.engine.begin() as conn:
        return await admin.update_survey(conn, survey.account.id, survey.account.survey_id, doc)


async def current_file(app: FastAPI, survey: Survey) -> dict[str, Any]:
    async with app.state.engine.connect() as conn:
        shown = await admin.show_survey(conn, survey.account.id, survey.account.survey_id)
    return admin.as_file(shown)


async def answer(client: httpx.AsyncClient, app: FastAPI, survey: Survey, **answers: Any) -> None:
    _, token = await create_request(app, survey.account)
    _, hidden = await open_form(client, survey.code, token)
    r = await post_form(client, survey.code, {**hidden, **answers})
    assert r.status_code == 303, r.text


def by_question(response: dict[str, Any]) -> dict[int, tuple[str, str]]:
    return {a["question_id"]: (a["question"], a["answer"]) for a in response["answers"]}


async def test_an_earlier_response_reads_as_it_was_answered_after_edits(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    await answer(client, app, survey, **survey.good_answers())
    [before] = await responses_of(survey.account)

    doc = await current_file(app, survey)
    questions = doc["questions"]
    questions[0]["text"] = "Would you recommend us to a colleague?"  # renamed (NPS)
    questions[3]["options"] = ["Yes, fully", "Partly", "No"]  # radio options changed
    del questions[4]  # the checkbox question removed
    questions.append({"type": "text", "text": "What should we change?", "required": False})
    result = await edit(app, survey, doc)
    assert result["changed"] and result["version"] == 2
    kept = [q["id"] for q in result["questions"]]
    # Kept questions keep their ids (the NPS question's id is what /nps filters by).
    assert kept[:5] == [survey.nps, survey.rating, survey.dropdown, survey.radio, survey.text]
    assert survey.checkbox not in kept

    [after] = await responses_of(survey.account)
    assert by_question(after) == by_question(before)
    assert by_question(after)[survey.nps] == ("How likely are you to recommend us?", "9")
    assert by_question(after)[survey.checkbox] == ("What did you like?", "Speed, Price")
    r = await survey.account.get(f"/feedback_responses/{before['id']}")
    assert by_question(r.json()) == by_question(before)

    # The page asks the new questions; a new answer reads with the new text.
    doc_page, _ = await open_form(client, survey.code)
    assert "Would you recommend us to a colleague?" in doc_page.text
    assert "What did you like?" not in doc_page.text
    assert doc_page.find_all("fieldset", id=f"q{survey.checkbox}") == []
    await answer(
        client,
        app,
        survey,
        **survey.good_answers(
            **{f"q{survey.radio}": "Partly", f"q{survey.checkbox}": None, f"q{survey.nps}": "10"}
        ),
    )
    newest = (await responses_of(survey.account))[0]
    assert newest["id"] != before["id"]
    assert by_question(newest)[survey.nps] == ("Would you recommend us to a colleague?", "10")
    assert by_question(newest)[survey.radio] == ("Was your issue solved?", "Partly")
    # The renamed NPS question still counts in /nps by its id, old and new answers alike.
    r = await survey.account.get("/nps", params={"question_ids[]": survey.nps})
    assert r.status_code == 200, r.text


async def test_an_unchanged_save_makes_no_version(app: FastAPI, survey: Survey) -> None:
    result = await edit(app, survey, await current_file(app, survey))
    assert not result["changed"] and result["version"] == 1


async def test_reordering_makes_a_version_and_keeps_ids(app: FastAPI, survey: Survey) -> None:
    doc = await current_file(app, survey)
    doc["questions"].reverse()
    result = await edit(app, survey, doc)
    assert result["version"] == 2
    assert result["questions"][0]["id"] == survey.text


@pytest.mark.parametrize(
    ("index", "change", "field", "message"),
    [
        (5, {"type": "rating"}, "type", "cannot change"),
        (0, {"nps": False}, "nps", "cannot change"),
        (1, {"nps": True, "scale": [0, 10]}, "nps", "cannot change"),
        (2, {"id": 987654321}, "id", "not one of this survey's questions"),
    ],
)
async def test_what_cannot_change_is_refused_beside_its_question(
    app: FastAPI,
    survey: Survey,
    index: int,
    change: dict[str, Any],
    field: str,
    message: str,
) -> None:
    doc = await current_file(app, survey)
    doc["questions"][index].update(change)
    with pytest.raises(SurveyInvalid) as refused:
        await edit(app, survey, doc)
    assert any(
        where == f"questions[{index}]" and f == field and message in text
        for where, f, text in refused.value.problems
    ), refused.value.problems
    async with app.state.engine.connect() as conn:
        shown = await admin.show_survey(conn, survey.account.id, survey.account.survey_id)
    assert shown["version"] == 1


async def test_another_accounts_survey_cannot_be_edited(
    app: FastAPI, survey: Survey, other_account: Any
) -> None:
    doc = await current_file(app, survey)
    async with app.state.engine.begin() as conn:
        with pytest.raises(AdminError, match="no survey"):
            await admin.update_survey(conn, other_account.id, survey.account.survey_id, doc)


async def test_archive_closes_the_page_and_restore_reopens_it(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    async with app.state.engine.begin() as conn:
        shown = await admin.set_archived(conn, survey.account.id, survey.account.survey_id, True)
    assert shown["archived_at"] is not None
    assert (await client.get(f"/s/{survey.code}")).status_code == 410
    async with app.state.engine.begin() as conn:
        with pytest.raises(AdminError, match="archived"):
            await admin.update_survey(
                conn, survey.account.id, survey.account.survey_id, {"name": "x", "questions": []}
            )
        await admin.set_archived(conn, survey.account.id, survey.account.survey_id, False)
    assert (await client.get(f"/s/{survey.code}")).status_code == 200


async def test_duplicate_asks_the_same_questions_under_new_ids(
    app: FastAPI, survey: Survey
) -> None:
    async with app.state.engine.begin() as conn:
        copy = await admin.duplicate(conn, survey.account.id, survey.account.survey_id)
        shown = await admin.show_survey(conn, survey.account.id, copy["id"])
    original = await current_file(app, survey)
    assert shown["name"] == "Copy of How did we do?"
    assert [q["text"] for q in shown["questions"]] == [q["text"] for q in original["questions"]]
    assert not {q["id"] for q in shown["questions"]} & {q["id"] for q in original["questions"]}


async def test_the_preview_checks_answers_and_records_nothing(
    client: httpx.AsyncClient, survey: Survey
) -> None:
    r = await client.get(f"/s/{survey.code}", params={"preview": "1"})
    assert r.status_code == 200
    assert "frame-ancestors 'self'" in r.headers["content-security-policy"]
    doc = parse(r.text)
    assert "Preview." in doc.find("p", class_="preview-note").text
    assert "Hi Sam" in r.text
    assert doc.find_all("input", id="email") == []  # as from an e-mail: no contact fields
    hidden = {i.get("name"): i.get("value") for i in doc.find_all("input", type="hidden")}
    assert hidden["preview"] == "1"

    r = await post_form(client, survey.code, {**hidden})
    assert r.status_code == 422
    assert "Please answer this question." in r.text and "Preview." in r.text
    r = await post_form(client, survey.code, {**hidden, **survey.good_answers()})
    assert r.status_code == 200
    assert "nothing was recorded" in r.text
    assert await responses_of(survey.account) == []
    # The customer's own page stays unframable.
    r = await client.get(f"/s/{survey.code}")
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
