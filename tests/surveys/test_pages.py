"""SPEC §6 and the survey-page issue: the form, its validation, its guards and its pages."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from opensure.config import Settings
from opensure.core import signing
from opensure.dispatch.mail import MaildirTransport
from opensure.dispatch.worker import Dispatcher
from opensure.pages import endpoints as pages
from opensure.surveys import repository as survey_repo
from tests.conftest import BASE
from tests.surveys.conftest import (
    Survey,
    create_request,
    make_survey,
    open_form,
    post_form,
    responses_of,
)
from tests.surveys.html import Node, label_text, legend_of, parse

HTML_CT = "text/html; charset=utf-8"
DASH = "\N{EN DASH}"  # between a question and its problem in the error summary


def fieldset_of(doc: Node, qid: int) -> Node:
    return doc.find("fieldset", id=f"q{qid}")


def scale_values(fieldset: Node) -> list[str]:
    return [str(i.get("value")) for i in fieldset.find_all("input", type="radio")]


def checked(doc: Node, name: str) -> list[str]:
    return [
        str(i.get("value"))
        for i in doc.find_all("input", name=name)
        if "checked" in i.attrs and i.get("type") in ("radio", "checkbox")
    ]


def error_beside(doc: Node, key: str) -> str:
    """The message shown in the question's own box (fieldset or field wrapper)."""
    control = doc.find(id=key)
    box = control if control.tag == "fieldset" else control.parent
    assert box is not None
    messages = [p.text for p in box.find_all("p") if p.has_class("error")]
    assert messages, f"no error message beside {key}"
    return " ".join(messages)


def assert_friendly(r: httpx.Response, status: int, title: str) -> Node:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == HTML_CT
    doc = parse(r.text)
    assert doc.find("h1").text == title
    assert "Traceback" not in r.text and '"message"' not in r.text
    return doc


# ---- the form ---------------------------------------------------------------------------------


async def test_anonymous_form_structure(client: httpx.AsyncClient, survey: Survey) -> None:
    r = await client.get(f"/s/{survey.code}")
    assert r.status_code == 200
    assert r.headers["content-type"] == HTML_CT
    doc = parse(r.text)
    assert doc.find("html").get("lang")
    assert doc.find("meta", name="viewport").get("content") == "width=device-width, initial-scale=1"
    assert doc.find("h1").text == "How did we do?"

    form = doc.find("form")
    assert form.get("method") == "post" and form.get("action") == f"/s/{survey.code}"
    assert form.find("button", type="submit").text
    # Works without JavaScript: there is none.
    assert doc.find_all("script") == []

    controls = [
        *[i for i in form.find_all("input") if i.get("type") != "hidden"],
        *form.find_all("select"),
        *form.find_all("textarea"),
    ]
    assert len(controls) == 3 + 11 + 5 + 1 + 2 + 3 + 1
    for control in controls:
        assert label_text(doc, control), f"{control.attrs} has no label"
        if control.get("type") in ("radio", "checkbox"):
            fieldset = control.closest("fieldset")
            assert fieldset is not None and legend_of(fieldset), f"{control.attrs} not in a group"
        # Nothing takes keyboard focus out of its natural order.
        assert control.get("tabindex") in (None, "0")

    # The anonymous form asks who is answering.
    for name, label in [
        ("name", "Your name"),
        ("email", "Email address"),
        ("telephone_number", "Telephone number"),
    ]:
        field = form.find("input", name=name)
        assert label_text(doc, field).startswith(label)
    assert form.find("input", name="email").get("type") == "email"
    assert form.find("input", name="telephone_number").get("type") == "tel"


async def test_nps_and_rating_scales(client: httpx.AsyncClient, survey: Survey) -> None:
    doc, _ = await open_form(client, survey.code)
    nps = fieldset_of(doc, survey.nps)
    assert legend_of(nps).startswith("How likely are you to recommend us?")
    assert scale_values(nps) == [str(n) for n in range(11)]
    labels = [label_text(doc, i) for i in nps.find_all("input", type="radio")]
    assert labels == [str(n) for n in range(11)]
    assert "Not likely" in nps.text and "Very likely" in nps.text
    assert nps.text.index("Not likely") < nps.text.index("Very likely")

    rating = fieldset_of(doc, survey.rating)
    assert legend_of(rating).startswith("How satisfied were you?")
    assert scale_values(rating) == ["1", "2", "3", "4", "5"]
    assert "Not likely" not in rating.text and "Very likely" not in rating.text


async def test_option_groups(client: httpx.AsyncClient, survey: Survey) -> None:
    doc, _ = await open_form(client, survey.code)
    radio = fieldset_of(doc, survey.radio)
    assert legend_of(radio).startswith("Was your issue solved?")
    assert [(i.get("type"), i.get("value")) for i in radio.find_all("input")] == [
        ("radio", "Yes"),
        ("radio", "No"),
    ]
    checkbox = fieldset_of(doc, survey.checkbox)
    assert legend_of(checkbox).startswith("What did you like?")
    assert [(i.get("type"), label_text(doc, i)) for i in checkbox.find_all("input")] == [
        ("checkbox", "Speed"),
        ("checkbox", "Friendliness"),
        ("checkbox", "Price"),
    ]
    select = doc.find("select", name=f"q{survey.dropdown}")
    assert label_text(doc, select).startswith("Which product did you use?")
    assert [o.text for o in select.find_all("option")][1:] == ["App", "Web"]
    textarea = doc.find("textarea", name=f"q{survey.text}")
    assert label_text(doc, textarea).startswith("Anything else?")


async def test_token_form_greets_and_asks_no_contact_details(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    _, token = await create_request(app, survey.account, first_name="Kate")
    doc, hidden = await open_form(client, survey.code, token)
    assert hidden["t"] == token and hidden["form_token"]
    for name in ("name", "email", "telephone_number"):
        assert doc.find_all("input", name=name) == []
    assert "Hi Kate" in doc.find("main").text


async def test_stylesheet_has_visible_focus(client: httpx.AsyncClient, survey: Survey) -> None:
    doc, _ = await open_form(client, survey.code)
    href = doc.find("link", rel="stylesheet").get("href")
    css = await client.get(str(href))
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in css.text and "outline" in css.text


# ---- submitting -------------------------------------------------------------------------------


async def test_anonymous_submission_is_stored_and_thanked(
    client: httpx.AsyncClient, survey: Survey
) -> None:
    _, hidden = await open_form(client, survey.code)
    fields = {
        **hidden,
        **survey.good_answers(),
        "name": "Ann Lee",
        "email": "ann@example.com",
        "telephone_number": "+44 20 7946 0000",
    }
    r = await post_form(client, survey.code, fields)
    assert r.status_code == 303
    assert r.headers["location"] == f"/s/{survey.code}/thanks"
    thanks = await client.get(r.headers["location"])
    assert thanks.status_code == 200 and thanks.headers["content-type"] == HTML_CT
    assert parse(thanks.text).find("h1").text == "Thank you!"
    assert survey.account.name in thanks.text

    [stored] = await responses_of(survey.account)
    assert stored["fields"] == {
        "email": "ann@example.com",
        "name": "Ann Lee",
        "telephone_number": "+44 20 7946 0000",
    }
    assert stored["feedback_request"] is None
    answers = {a["question_id"]: (a["answer"], a["type"]) for a in stored["answers"]}
    assert answers == {
        survey.nps: ("9", "Rating"),
        survey.rating: ("4", "Rating"),
        survey.dropdown: ("Web", "Dropdown"),
        survey.radio: ("Yes", "Radio"),
        survey.checkbox: ("Speed, Price", "Checkbox"),  # the survey's order
        survey.text: ("Quick and friendly.", "Text"),
    }


async def test_optional_questions_may_be_left_out(
    client: httpx.AsyncClient, survey: Survey
) -> None:
    _, hidden = await open_form(client, survey.code)
    answers = survey.good_answers(**{f"q{survey.checkbox}": None, f"q{survey.text}": ""})
    fields = {**hidden, **answers, "name": "Ann", "email": "ann@example.com"}
    r = await post_form(client, survey.code, fields)
    assert r.status_code == 303, r.text
    [stored] = await responses_of(survey.account)
    assert {a["question_id"] for a in stored["answers"]} == {
        survey.nps,
        survey.rating,
        survey.dropdown,
        survey.radio,
    }
    assert stored["fields"]["telephone_number"] is None


async def test_token_submission_is_tied_to_its_request_and_updated_on_resubmit(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    request, token = await create_request(app, survey.account)
    _, hidden = await open_form(client, survey.code, token)
    # Contact fields posted alongside are ignored: the request says who this is.
    fields = {**hidden, **survey.good_answers(), "email": "evil@example.com", "name": "Mallory"}
    r = await post_form(client, survey.code, fields)
    assert r.status_code == 303, r.text
    [first] = await responses_of(survey.account)
    assert first["fields"]["email"] == "kate@example.com"
    assert first["fields"]["name"] == "Kate Smith"
    assert first["reference"] == "#1041"
    assert first["feedback_request"]["id"] == request["id"]

    # Through the same link again: the earlier answers are shown, and a new post updates them.
    doc, hidden = await open_form(client, survey.code, token)
    assert checked(doc, f"q{survey.nps}") == ["9"]
    assert checked(doc, f"q{survey.checkbox}") == ["Speed", "Price"]
    assert doc.find("textarea", name=f"q{survey.text}").text == "Quick and friendly."
    await asyncio.sleep(1.05)  # timestamps have whole seconds
    answers = survey.good_answers(**{f"q{survey.nps}": "3", f"q{survey.checkbox}": "Friendliness"})
    r = await post_form(client, survey.code, {**hidden, **answers})
    assert r.status_code == 303, r.text
    [second] = await responses_of(survey.account)
    assert second["id"] == first["id"]
    assert second["submitted_at"] == first["submitted_at"]
    assert second["updated_at"] > first["updated_at"]
    new = {a["question_id"]: a["answer"] for a in second["answers"]}
    assert new[survey.nps] == "3" and new[survey.checkbox] == "Friendliness"


# ---- validation -------------------------------------------------------------------------------


async def post_invalid(
    client: httpx.AsyncClient, survey: Survey, token: str = "", **override: object
) -> Node:
    _, hidden = await open_form(client, survey.code, token)
    contact = {} if token else {"name": "Ann Lee", "email": "ann@example.com"}
    fields = {**hidden, **contact, **survey.good_answers(**override)}
    fields = {k: v for k, v in fields.items() if v is not None}
    r = await post_form(client, survey.code, fields)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == HTML_CT
    assert r.headers["content-security-policy"]
    doc = parse(r.text)
    assert doc.find("form")  # the form again, ready to correct
    assert_summary_leads_to_controls(doc)
    assert await responses_of(survey.account) == []
    return doc


def assert_summary_leads_to_controls(doc: Node) -> list[str]:
    """The error summary: announced, titled as an error, each entry a link to a control."""
    assert doc.find("title").text.startswith("Error: ")
    summary = doc.find(id="error-summary")
    assert summary.get("role") == "alert"
    entries = []
    for link in summary.find_all("a"):
        target = doc.find(id=str(link.get("href")).removeprefix("#"))
        assert target.tag in ("input", "select", "textarea"), link.attrs
        entries.append(link.text)
    assert entries
    return entries


async def test_missing_required_answer_keeps_what_was_entered(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    _, token = await create_request(app, survey.account)
    doc = await post_invalid(client, survey, token, **{f"q{survey.nps}": None})
    assert error_beside(doc, f"q{survey.nps}") == "Please answer this question."
    assert fieldset_of(doc, survey.nps).get("aria-invalid") == "true"
    assert assert_summary_leads_to_controls(doc) == [
        f"How likely are you to recommend us? {DASH} Please answer this question."
    ]
    # Only that question is flagged; everything else is as the person left it.
    assert len(doc.select(lambda n: n.has_class("error"))) == 1
    assert checked(doc, f"q{survey.rating}") == ["4"]
    assert checked(doc, f"q{survey.radio}") == ["Yes"]
    assert checked(doc, f"q{survey.checkbox}") == ["Speed", "Price"]
    select = doc.find("select", name=f"q{survey.dropdown}")
    assert [o.text for o in select.find_all("option") if "selected" in o.attrs] == ["Web"]
    assert doc.find("textarea", name=f"q{survey.text}").text == "Quick and friendly."
    # The link token survives the round trip, so the retry still counts for the request.
    assert doc.find("input", name="t").get("value") == token


@pytest.mark.parametrize(
    ("which", "value", "message"),
    [
        ("nps", "11", "Choose a number from 0 to 10."),
        ("nps", "-1", "Choose a number from 0 to 10."),
        ("rating", "0", "Choose a number from 1 to 5."),
        ("rating", "6", "Choose a number from 1 to 5."),
        ("rating", "4.5", "Choose a number from 1 to 5."),
        ("rating", "four", "Choose a number from 1 to 5."),
        ("rating", "--4", "Choose a number from 1 to 5."),
        pytest.param("rating", "\u00b2", "Choose a number from 1 to 5.", id="superscript-two"),
        pytest.param("rating", "9" * 5000, "Choose a number from 1 to 5.", id="5000-digits"),
    ],
)
async def test_rating_out_of_scale(
    client: httpx.AsyncClient, survey: Survey, which: str, value: str, message: str
) -> None:
    qid = getattr(survey, which)
    doc = await post_invalid(client, survey, **{f"q{qid}": value})
    assert error_beside(doc, f"q{qid}") == message
    assert doc.find("input", name="name").get("value") == "Ann Lee"


@pytest.mark.parametrize(
    ("which", "value", "message"),
    [
        ("dropdown", "Tablet", "Choose one of the options."),
        ("radio", "Maybe", "Choose one of the options."),
        ("checkbox", ["Speed", "Free lunch"], "Choose from the options shown."),
    ],
)
async def test_unknown_option(
    client: httpx.AsyncClient, survey: Survey, which: str, value: object, message: str
) -> None:
    qid = getattr(survey, which)
    doc = await post_invalid(client, survey, **{f"q{qid}": value})
    assert error_beside(doc, f"q{qid}") == message


@pytest.mark.parametrize(
    ("contact", "key", "message"),
    [
        ({"email": "not-an-address"}, "email", "This doesn't look like an email address."),
        ({"email": ""}, "email", "Please give your email address."),
        ({"name": "  "}, "name", "Please tell us your name."),
    ],
)
async def test_anonymous_contact_details_are_checked(
    client: httpx.AsyncClient, survey: Survey, contact: dict[str, str], key: str, message: str
) -> None:
    _, hidden = await open_form(client, survey.code)
    entered = {"name": "Ann Lee", "email": "ann@example.com", "telephone_number": "0123 456"}
    fields = {**hidden, **survey.good_answers(), **entered, **contact}
    r = await post_form(client, survey.code, fields)
    assert r.status_code == 422
    doc = parse(r.text)
    assert error_beside(doc, key) == message
    field = doc.find("input", name=key)
    assert field.get("aria-invalid") == "true"
    assert field.get("aria-describedby") == f"{key}-error"
    for name in entered:
        assert doc.find("input", name=name).get("value") == fields[name]
    assert checked(doc, f"q{survey.nps}") == ["9"]
    assert await responses_of(survey.account) == []


async def test_error_summary_names_each_problem_in_form_order(
    client: httpx.AsyncClient, survey: Survey
) -> None:
    _, hidden = await open_form(client, survey.code)
    answers = survey.good_answers(**{f"q{survey.radio}": None, f"q{survey.rating}": "9"})
    fields = {**hidden, **answers, "name": "", "email": "nope"}
    r = await post_form(client, survey.code, fields)
    assert r.status_code == 422
    assert assert_summary_leads_to_controls(parse(r.text)) == [
        f"Your name {DASH} Please tell us your name.",
        f"Email address {DASH} This doesn't look like an email address.",
        f"How satisfied were you? {DASH} Choose a number from 1 to 5.",
        f"Was your issue solved? {DASH} Please answer this question.",
    ]


async def test_html_in_answers_is_stored_verbatim_and_shown_escaped(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    nasty = '<script>alert("x")</script> & <b>bold</b>'
    _, token = await create_request(app, survey.account)
    _, hidden = await open_form(client, survey.code, token)
    r = await post_form(
        client, survey.code, {**hidden, **survey.good_answers(**{f"q{survey.text}": nasty})}
    )
    assert r.status_code == 303
    [stored] = await responses_of(survey.account)
    assert {a["question_id"]: a["answer"] for a in stored["answers"]}[survey.text] == nasty

    page = await client.get(f"/s/{survey.code}", params={"t": token})
    assert "<script>" not in page.text and "<b>bold" not in page.text
    assert "&lt;script&gt;" in page.text
    assert parse(page.text).find("textarea", name=f"q{survey.text}").text == nasty

    # A 422 re-render escapes what was typed, too.
    _, hidden = await open_form(client, survey.code)
    fields = {**hidden, **survey.good_answers(), "name": '"><script>x()</script>', "email": "x"}
    r = await post_form(client, survey.code, fields)
    assert r.status_code == 422
    assert "<script>" not in r.text
    assert parse(r.text).find("input", name="name").get("value") == '"><script>x()</script>'


@pytest.mark.parametrize("key", ["text", "name", "telephone_number"])
async def test_nul_character_is_refused_beside_its_field(
    client: httpx.AsyncClient, survey: Survey, key: str
) -> None:
    """PostgreSQL cannot store NUL: the person is told, instead of getting a server error."""
    field = f"q{survey.text}" if key == "text" else key
    _, hidden = await open_form(client, survey.code)
    contact = {"name": "Ann Lee", "email": "ann@example.com"}
    fields = {**hidden, **survey.good_answers(), **contact, field: "a\x00b"}
    r = await post_form(client, survey.code, fields)
    assert r.status_code == 422, r.text
    assert error_beside(parse(r.text), field) == (
        "Please remove the unusual characters from this answer."
    )
    assert await responses_of(survey.account) == []


# ---- guards and friendly pages ----------------------------------------------------------------


def expired_form_token(app: FastAPI, code: str, token: str = "") -> str:
    issued = int(time.time()) - pages.FORM_TOKEN_SECONDS - 60
    return f"{issued}.{signing._sign(app.state.secret, f'{code}|{token}', issued)}"


@pytest.mark.parametrize("how", ["missing", "forged", "expired", "other-survey", "other-link"])
async def test_form_token_guards_against_cross_site_posts(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey, how: str
) -> None:
    _, token = await create_request(app, survey.account)
    _, hidden = await open_form(client, survey.code, token)
    if how == "missing":
        del hidden["form_token"]
    elif how == "forged":
        issued = hidden["form_token"].split(".")[0]
        hidden["form_token"] = f"{issued}.{'0' * 32}"
    elif how == "expired":
        hidden["form_token"] = expired_form_token(app, survey.code, token)
    elif how == "other-survey":
        other = await make_survey(app, client)
        _, other_hidden = await open_form(client, other.code)
        hidden["form_token"] = other_hidden["form_token"]
    else:  # the anonymous form's token does not cover an emailed link
        _, anonymous = await open_form(client, survey.code)
        hidden["form_token"] = anonymous["form_token"]
    r = await post_form(client, survey.code, {**hidden, **survey.good_answers()})
    doc = assert_friendly(r, 403, "Please try again")
    assert "open the survey link again" in doc.find("main").text
    assert await responses_of(survey.account) == []


async def test_unknown_survey_code_is_a_friendly_404(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    assert_friendly(await client.get("/s/NoSuchSurvey"), 404, "Survey not found")
    form_token = pages.make_form_token(app.state.secret, "NoSuchSurvey", "")
    r = await client.post("/s/NoSuchSurvey", data={"form_token": form_token, "name": "x"})
    assert_friendly(r, 404, "Survey not found")
    assert_friendly(await client.get("/s/NoSuchSurvey/thanks"), 404, "Survey not found")


async def test_unknown_link_token_is_a_friendly_404(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    r = await client.get(f"/s/{survey.code}", params={"t": "not-a-real-token"})
    assert_friendly(r, 404, "This link isn't valid")
    # A real token of another account's survey is no better.
    other = await make_survey(app, client)
    _, other_token = await create_request(app, other.account)
    r = await client.get(f"/s/{survey.code}", params={"t": other_token})
    assert_friendly(r, 404, "This link isn't valid")
    # Nor is posting with a token that does not exist (even with a well-signed form token).
    form_token = pages.make_form_token(app.state.secret, survey.code, "not-a-real-token")
    fields = {"form_token": form_token, "t": "not-a-real-token", **survey.good_answers()}
    assert_friendly(await post_form(client, survey.code, fields), 404, "This link isn't valid")
    assert await responses_of(survey.account) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/s/"),
        ("GET", "/s/{code}/"),
        ("GET", "/s/{code}/more"),
        ("POST", "/u/"),
        ("GET", "/u/a/b"),
    ],
)
async def test_mangled_links_get_a_friendly_404(
    client: httpx.AsyncClient, survey: Survey, method: str, path: str
) -> None:
    r = await client.request(method, path.format(code=survey.code))
    assert_friendly(r, 404, "Page not found")
    assert r.headers["x-content-type-options"] == "nosniff"


async def test_unexpected_error_is_a_friendly_page(
    app: FastAPI, survey: Survey, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(survey_repo, "survey_by_code", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        r = await c.get(f"/s/{survey.code}")
    assert r.status_code == 500
    assert r.headers["content-type"] == HTML_CT
    assert "boom" not in r.text


async def drain(app: FastAPI, tmp: Path) -> None:
    settings = Settings(database_url="sqlite://", public_url=BASE, smtp_connections=1)
    await Dispatcher(app.state.engine, settings, transport=MaildirTransport(str(tmp))).drain()


async def test_link_of_an_erased_request_has_expired(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey, tmp: Path
) -> None:
    request, token = await create_request(app, survey.account, due=True)
    await drain(app, tmp / "outbox")
    r = await survey.account.get(f"/feedback_requests/{request['id']}")
    assert r.json()["state"] == "sent"
    _, hidden = await open_form(client, survey.code, token)
    assert (await survey.account.delete(f"/feedback_requests/{request['id']}")).status_code == 204
    assert_friendly(
        await client.get(f"/s/{survey.code}", params={"t": token}), 410, "This link has expired"
    )
    r = await post_form(client, survey.code, {**hidden, **survey.good_answers()})
    assert_friendly(r, 410, "This link has expired")


# ---- unsubscribing ----------------------------------------------------------------------------


async def test_unsubscribe_asks_first_then_one_click_post_unsubscribes(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey, tmp: Path
) -> None:
    _, token = await create_request(app, survey.account, email="Bob@Example.com")
    page = await client.get(f"/u/{token}")
    assert page.status_code == 200 and page.headers["content-type"] == HTML_CT
    doc = parse(page.text)
    assert doc.find("h1").text == "Unsubscribe?"
    assert "Bob@Example.com" in doc.find("main").text
    form = doc.find("form")
    assert form.get("method") == "post"
    assert form.get("action") in ("", f"/u/{token}")
    assert form.find("button", type="submit").text == "Unsubscribe"

    # Looking at the page changes nothing: a request due now still goes out.
    first, _ = await create_request(app, survey.account, email="bob@example.com", due=True)
    await drain(app, tmp / "outbox")
    assert (await survey.account.get(f"/feedback_requests/{first['id']}")).json()["state"] == "sent"

    # RFC 8058 one-click: the POST alone unsubscribes.
    r = await client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert parse(r.text).find("h1").text == "You're unsubscribed"
    later, _ = await create_request(app, survey.account, email="BOB@example.com", due=True)
    await drain(app, tmp / "outbox")
    shown = (await survey.account.get(f"/feedback_requests/{later['id']}")).json()
    assert (shown["state"], shown["not_sent_reason"]) == ("not_sent", "recipient unsubscribed")


async def test_unknown_unsubscribe_link_is_a_friendly_404(client: httpx.AsyncClient) -> None:
    assert_friendly(await client.get("/u/nope"), 404, "This link isn't valid")
    assert_friendly(await client.post("/u/nope"), 404, "This link isn't valid")


# ---- headers ----------------------------------------------------------------------------------


async def test_security_headers_on_every_page(
    app: FastAPI, client: httpx.AsyncClient, survey: Survey
) -> None:
    _, token = await create_request(app, survey.account)
    _, hidden = await open_form(client, survey.code)
    responses = {
        "form": await client.get(f"/s/{survey.code}"),
        "link form": await client.get(f"/s/{survey.code}", params={"t": token}),
        "422": await post_form(client, survey.code, hidden),
        "403": await post_form(client, survey.code, {}),
        "404": await client.get("/s/NoSuchSurvey"),
        "bad link": await client.get(f"/s/{survey.code}", params={"t": "nope"}),
        "thanks": await client.get(f"/s/{survey.code}/thanks"),
        "unsubscribe": await client.get(f"/u/{token}"),
    }
    for what, r in responses.items():
        csp = [d.strip() for d in r.headers.get("content-security-policy", "").split(";")]
        assert "frame-ancestors 'none'" in csp, what
        assert "form-action 'self'" in csp, what
        assert not any("unsafe-inline" in d for d in csp), what
        assert r.headers.get("x-content-type-options") == "nosniff", what
        assert r.headers.get("referrer-policy") == "no-referrer", what
        assert r.headers.get("cache-control") == "no-store", what
