"""SPEC §10 on the survey pages: a request's ``language`` data item chooses its page (and its
thank-you and unsubscribe pages); anonymous and error pages follow ``Accept-Language``;
unknown → English; ``<html lang>`` names the language used and Arabic and Hebrew are ``rtl``."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from opensure.surveys import repository as survey_repo
from tests.conftest import BASE
from tests.surveys.conftest import Survey, create_request, open_form, post_form
from tests.surveys.html import Node, parse


def language(tag: str) -> list[dict[str, str]]:
    return [{"key": "language", "value": tag}]


def html_of(doc: Node) -> tuple[str | None, str | None]:
    root = doc.find("html")
    return root.get("lang"), root.get("dir")


def button(doc: Node) -> str:
    return doc.find("button", type="submit").text


def error_texts(doc: Node) -> list[str]:
    return [p.text for p in doc.find_all("p") if p.has_class("error")]


async def test_page_in_the_request_language(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    _, de = await create_request(app, survey.account, data=language("de"))
    _, ar = await create_request(app, survey.account, data=language("ar"))
    _, en = await create_request(app, survey.account)

    doc, _ = await open_form(client, survey.code, de)
    assert html_of(doc) == ("de", "ltr")
    assert button(doc) == "Feedback senden"
    main = doc.find("main").text
    assert "Hallo Kate, danke, dass Sie sich einen Moment Zeit nehmen" in main
    nps = doc.find("fieldset", id=f"q{survey.nps}").text
    assert "Unwahrscheinlich" in nps and "Sehr wahrscheinlich" in nps
    assert "(optional)" in doc.find("fieldset", id=f"q{survey.checkbox}").text
    # The survey's own texts are its own (translated by the survey, not the catalogs).
    assert doc.find("h1").text == "How did we do?"
    assert doc.find("footer").text == "Bereitgestellt mit OpenSure"

    doc, _ = await open_form(client, survey.code, ar)
    assert html_of(doc) == ("ar", "rtl")
    assert button(doc) == "إرسال الملاحظات"
    nps = doc.find("fieldset", id=f"q{survey.nps}").text
    assert "غير محتمل" in nps and "محتمل جدًا" in nps
    assert "(اختياري)" in doc.find("fieldset", id=f"q{survey.checkbox}").text

    # No language item: English, as its e-mail was, whatever the browser asks for.
    r = await client.get(f"/s/{survey.code}", params={"t": en}, headers={"Accept-Language": "de"})
    doc = parse(r.text)
    assert html_of(doc) == ("en", "ltr")
    assert button(doc) == "Send feedback"


async def test_request_language_beats_the_browser_and_falls_back(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    _, fr = await create_request(app, survey.account, data=language("fr-CA"))
    _, xx = await create_request(app, survey.account, data=language("xx-YY"))
    r = await client.get(f"/s/{survey.code}", params={"t": fr}, headers={"Accept-Language": "de"})
    doc = parse(r.text)
    assert html_of(doc) == ("fr", "ltr")
    assert button(doc) == "Envoyer mon avis"
    r = await client.get(f"/s/{survey.code}", params={"t": xx}, headers={"Accept-Language": "de"})
    assert html_of(parse(r.text)) == ("en", "ltr")


async def test_anonymous_page_follows_accept_language(
    client: httpx.AsyncClient, survey: Survey
) -> None:
    r = await client.get(f"/s/{survey.code}", headers={"Accept-Language": "nl,en;q=0.5"})
    doc = parse(r.text)
    assert html_of(doc) == ("nl", "ltr")
    assert button(doc) == "Feedback versturen"
    about = doc.find("fieldset").text
    assert "Over u" in about and "Uw naam" in about and "E-mailadres" in about

    r = await client.get(f"/s/{survey.code}", headers={"Accept-Language": "he-IL,he;q=0.9"})
    assert html_of(parse(r.text)) == ("he", "rtl")

    for unknown in ("xx", "", "*", "zz;q=1, qq;q=0.5"):
        r = await client.get(f"/s/{survey.code}", headers={"Accept-Language": unknown})
        doc = parse(r.text)
        assert html_of(doc) == ("en", "ltr"), unknown
        assert button(doc) == "Send feedback"


async def test_validation_messages_are_translated(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    _, de = await create_request(app, survey.account, data=language("de"))
    _, hidden = await open_form(client, survey.code, de)
    answers = survey.good_answers(**{f"q{survey.nps}": None, f"q{survey.rating}": "9"})
    r = await post_form(client, survey.code, {**hidden, **answers})
    assert r.status_code == 422
    doc = parse(r.text)
    assert html_of(doc) == ("de", "ltr")
    assert doc.find("title").text.startswith("Fehler: ")
    assert doc.find(id="error-summary").find("h2").text == "Bitte überprüfen Sie Ihre Antworten"
    assert "Bitte beantworten Sie diese Frage." in error_texts(doc)
    assert "Bitte wählen Sie eine Zahl von 1 bis 5." in error_texts(doc)

    # Anonymous, in Spanish: the contact fields' messages too.
    headers = {"Accept-Language": "es-MX"}
    r = await client.get(f"/s/{survey.code}", headers=headers)
    hidden = {i.get("name"): i.get("value") for i in parse(r.text).find_all("input", type="hidden")}
    form = {**hidden, **survey.good_answers(), "name": "", "email": "not-an-address"}
    r = await client.post(f"/s/{survey.code}", data=form, headers=headers)
    assert r.status_code == 422
    doc = parse(r.text)
    assert html_of(doc) == ("es", "ltr")
    assert "Indíquenos su nombre, por favor." in error_texts(doc)
    assert "Esto no parece una dirección de correo electrónico." in error_texts(doc)


async def test_thank_you_page_in_the_request_language(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    _, ar = await create_request(app, survey.account, data=language("ar"))
    _, hidden = await open_form(client, survey.code, ar)
    r = await post_form(client, survey.code, {**hidden, **survey.good_answers()})
    assert r.status_code == 303
    assert r.headers["location"] == f"/s/{survey.code}/thanks?lang=ar"
    doc = parse((await client.get(r.headers["location"])).text)
    assert html_of(doc) == ("ar", "rtl")
    assert doc.find("h1").text == "شكرًا لك!"
    assert doc.find("title").text == "شكرًا لك"

    # Anonymous: the thank-you page follows the browser, as the form did.
    r = await client.get(f"/s/{survey.code}/thanks", headers={"Accept-Language": "fr"})
    doc = parse(r.text)
    assert html_of(doc) == ("fr", "ltr")
    assert doc.find("h1").text == "Merci !"
    assert "a bien reçu votre avis" in doc.find("main").text


async def test_unsubscribe_pages_in_the_request_language(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    _, token = await create_request(
        app, survey.account, email="jan@example.com", data=language("nl")
    )
    doc = parse((await client.get(f"/u/{token}")).text)
    assert html_of(doc) == ("nl", "ltr")
    assert doc.find("h1").text == "Afmelden?"
    assert button(doc) == "Afmelden"
    assert "jan@example.com" in doc.find("main").text
    r = await client.post(f"/u/{token}")
    assert r.status_code == 200
    doc = parse(r.text)
    assert doc.find("h1").text == "U bent afgemeld"
    assert "stuurt geen enquêtemails meer naar jan@example.com" in doc.find("main").text


async def test_error_pages_follow_accept_language(
    client: httpx.AsyncClient, survey: Survey
) -> None:
    r = await client.get("/s/NoSuchSurvey", headers={"Accept-Language": "de-AT"})
    assert r.status_code == 404
    doc = parse(r.text)
    assert html_of(doc) == ("de", "ltr")
    assert doc.find("h1").text == "Umfrage nicht gefunden"
    r = await client.get(
        f"/s/{survey.code}", params={"t": "not-a-token"}, headers={"Accept-Language": "ar"}
    )
    assert r.status_code == 404
    doc = parse(r.text)
    assert html_of(doc) == ("ar", "rtl")
    assert doc.find("h1").text == "هذا الرابط غير صالح"
    r = await client.get("/u/nope", headers={"Accept-Language": "xx"})
    assert parse(r.text).find("h1").text == "This link isn't valid"
    assert html_of(parse(r.text)) == ("en", "ltr")


async def test_server_error_page_follows_accept_language(
    app: FastAPI, survey: Survey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bare page of an unexpected error (no template, no database) is translated too."""

    async def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(survey_repo, "survey_by_code", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        r = await c.get(f"/s/{survey.code}", headers={"Accept-Language": "he"})
        assert r.status_code == 500
        doc = parse(r.text)
        assert html_of(doc) == ("he", "rtl")
        assert doc.find("h1").text == "משהו השתבש"
        assert "boom" not in r.text
        r = await c.get(f"/s/{survey.code}")
        assert html_of(parse(r.text)) == ("en", "ltr")
        assert parse(r.text).find("h1").text == "Something went wrong"
