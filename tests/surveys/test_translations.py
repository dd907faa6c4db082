"""A survey's own translations (issue 16 §2, SPEC §10): carried in the survey file under
``translations:`` keyed by language, refused by path when they do not fit the questions,
written back by export; the page shows them for a request's ``language`` or an anonymous
visitor's ``Accept-Language``; answers keep the original question ids and option values, so
responses, metrics and exports stay one survey. Both engines."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from opensure.core.languages import negotiate
from opensure.models import FeedbackRequest
from opensure.surveys import admin
from opensure.surveys.importer import SurveyInvalid
from tests.conftest import make_account
from tests.surveys.conftest import (
    EVERYTHING,
    Survey,
    create_request,
    iso,
    open_form,
    post_form,
    responses_of,
)
from tests.surveys.html import parse

FRENCH = {
    "name": "Comment avons-nous fait ?",
    "questions": [
        {"text": "Quelle est la probabilité que vous nous recommandiez ?"},
        {"text": "Quel est votre niveau de satisfaction ?"},
        {"text": "Quel produit avez-vous utilisé ?", "options": ["Appli", "Site web"]},
        {"text": "Votre problème est-il résolu ?", "options": ["Oui", "Non"]},
        {"text": "Qu'avez-vous aimé ?", "options": ["Rapidité", "Amabilité", "Prix"]},
        {"text": "Autre chose ?"},
    ],
}
GERMAN = {
    "name": "Wie waren wir?",
    "questions": [
        {"text": "Wie wahrscheinlich empfehlen Sie uns weiter?"},
        {"text": "Wie zufrieden waren Sie?"},
        {"text": "Welches Produkt haben Sie genutzt?", "options": ["App", "Web"]},
        {"text": "Wurde Ihr Problem gelöst?", "options": ["Ja", "Nein"]},
        {"text": "Was hat Ihnen gefallen?", "options": ["Tempo", "Freundlichkeit", "Preis"]},
        {"text": "Sonst noch etwas?"},
    ],
}
TRANSLATED = {**EVERYTHING, "translations": {"fr": FRENCH, "DE": GERMAN}}


@pytest.fixture
async def translated(app: FastAPI, client: httpx.AsyncClient) -> Survey:
    account = await make_account(app, client, survey=copy.deepcopy(TRANSLATED))
    ids = [q["id"] for q in account.survey["questions"]]
    return Survey(account, account.survey["code"], *ids)


async def shown(app: FastAPI, survey: Survey) -> dict[str, Any]:
    async with app.state.engine.connect() as conn:
        return await admin.show_survey(conn, survey.account.id, survey.account.survey_id)


async def edit(app: FastAPI, survey: Survey, doc: dict[str, Any]) -> dict[str, Any]:
    async with app.state.engine.begin() as conn:
        return await admin.update_survey(conn, survey.account.id, survey.account.survey_id, doc)


def texts(page: Any) -> list[str]:
    return [node.text.strip() for node in page.find_all(class_="question-text")]


def test_negotiate_picks_the_exact_tag_then_the_language_else_english() -> None:
    assert negotiate("fr-CA", ["de", "fr"]) == "fr"
    assert negotiate("FR-ca", ["fr-CA", "fr"]) == "fr-CA"
    assert negotiate("es", ["de", "fr"]) == "en"
    assert negotiate("", ["fr"]) == "en"
    assert negotiate("da, en-GB;q=0.8, fr;q=0.9", ["fr", "en-GB"]) == "fr"
    assert negotiate("fr;q=0, de;q=0.5", ["fr", "de"]) == "de"


async def test_a_survey_file_imports_with_french_and_german_and_exports_them_back(
    app: FastAPI, translated: Survey
) -> None:
    survey = await shown(app, translated)
    assert sorted(survey["translations"]) == ["de", "fr"]  # "DE" normalised
    # Stored under the question ids, not positions.
    french = survey["translations"]["fr"]["questions"]
    assert french[str(translated.radio)] == {
        "text": "Votre problème est-il résolu ?",
        "options": ["Oui", "Non"],
    }
    doc = admin.as_file(survey)
    assert doc["translations"] == {"de": GERMAN, "fr": FRENCH}
    # The export given back unchanged makes no version; a changed translation does.
    assert not (await edit(app, translated, doc))["changed"]
    doc["translations"]["fr"]["questions"][5]["text"] = "Autre remarque ?"
    result = await edit(app, translated, doc)
    assert result["changed"] and result["version"] == 2
    assert [q["id"] for q in result["questions"]] == [q["id"] for q in survey["questions"]]
    assert result["translations"]["fr"]["questions"][str(translated.text)]["text"] == (
        "Autre remarque ?"
    )
    # A file without translations keeps them; an empty mapping removes them.
    del doc["translations"]
    assert not (await edit(app, translated, doc))["changed"]
    assert sorted((await shown(app, translated))["translations"]) == ["de", "fr"]
    result = await edit(app, translated, {**doc, "translations": {}})
    assert result["changed"] and result["translations"] == {}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda t: t["fr"]["questions"][2]["options"].pop(),
            "translations.fr.questions[2].options: 2 options expected, 1 given",
        ),
        (
            lambda t: t["fr"]["questions"].pop(),
            "translations.fr.questions: 6 questions expected, 5 given",
        ),
        (
            lambda t: t["fr"]["questions"][0].update(text=" "),
            "translations.fr.questions[0].text: required",
        ),
        (
            lambda t: t["fr"]["questions"][0].update(options=["Oui"]),
            "translations.fr.questions[0].options: a rating question has none",
        ),
        (lambda t: t.update({"not a tag!": FRENCH}), "translations.not a tag!: not a language"),
        (lambda t: t["fr"].pop("name"), "translations.fr.name: required"),
        (lambda t: t.update({"fr-ca": FRENCH, "FR-CA": FRENCH}), "fr-CA is given twice"),
    ],
)
async def test_translations_that_do_not_fit_are_refused_by_path(
    app: FastAPI, client: httpx.AsyncClient, change: Any, expected: str
) -> None:
    doc = copy.deepcopy(TRANSLATED)
    change(doc["translations"])
    with pytest.raises(SurveyInvalid) as refused:
        await make_account(app, client, survey=doc)
    assert expected in str(refused.value)


async def test_a_request_in_french_shows_the_french_texts_and_keeps_the_original_values(
    app: FastAPI, client: httpx.AsyncClient, translated: Survey
) -> None:
    _, token = await create_request(
        app, translated.account, data=[{"key": "language", "value": "fr"}]
    )
    _, english = await create_request(app, translated.account)
    await mark_sent(app, translated)
    page, hidden = await open_form(client, translated.code, token)
    assert page.find("html").get("lang") == "fr"
    assert page.find("h1").text == FRENCH["name"]
    assert texts(page)[0].startswith("Quelle est la probabilité")
    select = page.find("select", id=f"q{translated.dropdown}")
    assert [(o.get("value"), o.text) for o in select.find_all("option")][1:] == [
        ("App", "Appli"),
        ("Web", "Site web"),
    ]
    boxes = page.find("fieldset", id=f"q{translated.checkbox}").find_all("label")
    assert [(b.find("input").get("value"), b.find("span").text) for b in boxes] == [
        ("Speed", "Rapidité"),
        ("Friendliness", "Amabilité"),
        ("Price", "Prix"),
    ]

    # A French customer answers: the form posts the original values.
    r = await post_form(client, translated.code, {**hidden, **translated.good_answers()})
    assert r.status_code == 303, r.text
    [response] = await responses_of(translated.account)
    answers = {a["question_id"]: (a["question"], a["answer"]) for a in response["answers"]}
    assert answers[translated.checkbox] == ("What did you like?", "Speed, Price")
    assert answers[translated.radio] == ("Was your issue solved?", "Yes")
    assert answers[translated.nps] == ("How likely are you to recommend us?", "9")
    # The metrics count it as any other answer to the one survey: an English customer's
    # same answer adds the same.
    nps, rate = await metrics(translated)
    assert nps["promoter_count"] == 1 and rate["reply_count"] == 1
    _, hidden = await open_form(client, translated.code, english)
    r = await post_form(client, translated.code, {**hidden, **translated.good_answers()})
    assert r.status_code == 303, r.text
    nps, rate = await metrics(translated)
    assert nps["promoter_count"] == 2 and rate["reply_count"] == 2
    assert {r["survey_id"] for r in await responses_of(translated.account)} == {
        translated.account.survey_id
    }


async def mark_sent(app: FastAPI, survey: Survey) -> None:
    """The account's requests as the dispatcher leaves them once their e-mails are sent."""
    t = FeedbackRequest.__table__
    async with app.state.engine.begin() as conn:
        await conn.execute(
            update(t)
            .where(t.c.account_id == survey.account.id)
            .values(state="sent", sent_at=dt.datetime.now(dt.UTC))
        )


async def metrics(survey: Survey) -> tuple[dict[str, Any], dict[str, Any]]:
    nps = await survey.account.get("/nps", params={"question_ids[]": survey.nps})
    now = dt.datetime.now(dt.UTC)
    window = {
        "from_time": iso(now - dt.timedelta(hours=1)),
        "to_time": iso(now + dt.timedelta(hours=1)),
    }
    rate = await survey.account.get(
        "/response_rate", params={"survey_ids[]": survey.account.survey_id, **window}
    )
    assert nps.status_code == rate.status_code == 200, (nps.text, rate.text)
    return nps.json(), rate.json()


async def test_a_wrong_answer_shows_the_form_again_in_french(
    app: FastAPI, client: httpx.AsyncClient, translated: Survey
) -> None:
    _, token = await create_request(
        app, translated.account, data=[{"key": "language", "value": "fr-CA"}]
    )
    _, hidden = await open_form(client, translated.code, token)
    r = await post_form(client, translated.code, {**hidden, f"q{translated.nps}": "9"})
    assert r.status_code == 422
    page = parse(r.text)
    assert page.find("h1").text == FRENCH["name"]
    assert "Votre problème est-il résolu ?" in texts(page)[3]


@pytest.mark.parametrize(
    ("accept", "name", "lang"),
    [
        ("fr-CA,fr;q=0.9,en;q=0.5", FRENCH["name"], "fr"),
        ("de", GERMAN["name"], "de"),
        ("es-ES", EVERYTHING["name"], "es"),  # no Spanish translation: built-in texts in Spanish
        ("", EVERYTHING["name"], "en"),
    ],
)
async def test_an_anonymous_page_follows_accept_language(
    client: httpx.AsyncClient, translated: Survey, accept: str, name: str, lang: str
) -> None:
    r = await client.get(f"/s/{translated.code}", headers={"Accept-Language": accept})
    assert r.status_code == 200
    page = parse(r.text)
    assert page.find("h1").text == name
    assert page.find("html").get("lang") == lang


async def test_an_untranslated_survey_shows_its_own_texts(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    _, token = await create_request(app, survey.account, data=[{"key": "language", "value": "fr"}])
    page, _ = await open_form(client, survey.code, token)
    assert page.find("h1").text == EVERYTHING["name"]
    assert texts(page)[0].startswith("How likely")


async def test_a_question_added_later_reads_in_the_original_until_translated(
    app: FastAPI, client: httpx.AsyncClient, translated: Survey
) -> None:
    survey = await shown(app, translated)
    doc = admin.as_file(survey)
    del doc["translations"]  # as the builder saves: questions only
    doc["questions"].append({"type": "text", "text": "Any last words?", "required": False})
    doc["questions"][3]["options"] = ["Yes", "No", "Partly"]
    result = await edit(app, translated, doc)
    assert result["changed"]
    r = await client.get(f"/s/{translated.code}", headers={"Accept-Language": "fr"})
    page = parse(r.text)
    assert texts(page)[-1].startswith("Any last words?")
    assert texts(page)[4].startswith("Votre problème est-il résolu ?")  # after "About you"
    radio = page.find("fieldset", id=f"q{translated.radio}").find_all("span")
    assert [s.text for s in radio if s.text in ("Yes", "No", "Partly", "Oui")] == [
        "Yes",
        "No",
        "Partly",
    ]
    # The export shows what is missing; giving it back asks for it by path.
    exported = admin.as_file(await shown(app, translated))
    assert exported["translations"]["fr"]["questions"][6] == {"text": ""}
    with pytest.raises(SurveyInvalid) as refused:
        await edit(app, translated, exported)
    assert "translations.fr.questions[3].options: 3 options expected, 2 given" in str(refused.value)
    assert "translations.fr.questions[6].text: required" in str(refused.value)

    # A copy of the survey keeps its translations under the copy's question ids.
    async with app.state.engine.begin() as conn:
        copy = await admin.duplicate(conn, translated.account.id, translated.account.survey_id)
    r = await client.get(f"/s/{copy['code']}", headers={"Accept-Language": "de"})
    assert parse(r.text).find("h1").text == GERMAN["name"]
    assert texts(parse(r.text))[1].startswith("Wie wahrscheinlich")


async def test_the_console_preview_shows_a_translation_and_keeps_it_on_errors(
    client: httpx.AsyncClient, translated: Survey
) -> None:
    r = await client.get(f"/s/{translated.code}", params={"preview": "1", "lang": "de"})
    page = parse(r.text)
    assert page.find("h1").text == GERMAN["name"]
    hidden = {
        n.get("name"): n.get("value") for n in page.find("form").find_all("input", type="hidden")
    }
    assert hidden["lang"] == "de"
    r = await post_form(client, translated.code, hidden)
    assert r.status_code == 422
    assert parse(r.text).find("h1").text == GERMAN["name"]
