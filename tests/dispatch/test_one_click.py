"""One click in the e-mail (SPEC §10): the first question's scale as links in both parts, and
the links are scanner-safe: opening them records nothing."""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import parse_qsl, urlsplit

import httpx
from fastapi import FastAPI

from opensure.accounts import service as admin
from opensure.dispatch import preview, scale
from opensure.surveys import admin as surveys
from tests.conftest import BASE, Account, make_account
from tests.dispatch.support import (
    SmtpServer,
    address,
    answer_links,
    create_request,
    dispatch,
    fetch_request,
    parts,
    survey_link,
)
from tests.surveys.html import parse

TEXT_FIRST = {
    "name": "Quick question",
    "questions": [
        {"type": "text", "text": "What went well?"},
        {"type": "rating", "text": "How likely are you to recommend us?", "nps": True},
    ],
}
ODD_QUESTION = {
    "name": "Rate us",
    "questions": [
        {"type": "rating", "text": 'Rate <Acme> & "friends"', "scale": [1, 5]},
        {"type": "text", "text": "Why?", "required": False},
    ],
}


def both(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML parts, with plain line ends."""
    text, html = parts(message)
    return text.replace("\r\n", "\n"), html


def scale_query(link: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(link).query, keep_blank_values=True)


async def test_email_shows_each_value_of_the_first_ratings_scale_as_a_link(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    to = address()
    await create_request(
        account,
        email=to,
        query_params=[{"key": "utm_source", "value": "email"}, {"key": "lang", "value": "en gb"}],
    )
    await dispatch(app, smtp.url)
    message = smtp.one_to(to)
    in_text, in_html = answer_links(message)
    nps = account.survey["questions"][0]["id"]
    token = dict(scale_query(survey_link(message)))["t"]

    # One link per value 0 to 10, the same in both parts:
    # PUBLIC_URL/s/{code}?t={token}&q{question_id}={value}&<the request's query_params>.
    assert in_text == in_html
    assert len(in_text) == 11
    for value, link in enumerate(in_text):
        assert link.startswith(f"{BASE}/s/{account.survey['code']}?")
        assert scale_query(link) == [
            ("t", token),
            (f"q{nps}", str(value)),
            ("utm_source", "email"),
            ("lang", "en gb"),
        ]

    text, html = both(message)
    # The text part: the question, then one line per value, the ends named.
    assert "How likely are you to recommend us?\n0 (Not likely): " + in_text[0] + "\n" in text
    assert f"\n5: {in_text[5]}\n" in text
    assert f"\n10 (Very likely): {in_text[10]}" in text
    # The survey link stays, for the rest of the survey.
    assert f"Or open the survey: {survey_link(message)}" in text

    # The HTML part: a table of linked cells made for mail clients, no script, SVG or fonts.
    doc = parse(html)
    cells = [a for a in doc.find_all("a") if a.get("href") in in_html]
    assert [a.text for a in cells] == [str(n) for n in range(11)]
    for a in cells:
        style = a.get("style") or ""
        assert "display: block" in style and "16px/44px" in style
        assert "background-color: #1d4ed8" in style and "color: #ffffff" in style
    box = doc.find("table", class_="os-scale")
    assert box.text.startswith("How likely are you to recommend us?")
    ends = box.find_all("td", class_="os-muted")
    assert [(td.text, td.get("align")) for td in ends] == [
        ("Not likely", "left"),
        ("Very likely", "right"),
    ]
    for banned in ("<script", "<svg", "@font-face", "@import"):
        assert banned not in html.lower()
    assert '<meta name="color-scheme" content="light dark">' in html
    # Dark text only on an explicit white background (dark mode recolours both together).
    assert "background-color: #ffffff" in doc.find("body").get("style", "")


async def test_no_scale_when_the_first_question_is_not_a_rating(
    app: FastAPI, client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    account = await make_account(app, client, survey=TEXT_FIRST)
    to = address()
    await create_request(account, email=to)
    await dispatch(app, smtp.url)
    message = smtp.one_to(to)
    assert answer_links(message) == ([], [])
    text, html = both(message)
    assert "recommend" not in text and "recommend" not in html
    assert 'class="os-scale"' not in html
    # The default e-mail reads as before: the survey link under the invitation.
    assert f"It takes about a minute:\n\n{survey_link(message)}\n" in text


async def test_question_text_is_escaped_and_the_brand_colour_fills_the_cells(
    app: FastAPI, client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    account = await make_account(app, client, survey=ODD_QUESTION)
    async with app.state.engine.begin() as conn:
        await admin.update_settings(conn, account.id, {"brand_colour": "#ffd500"})
    to = address()
    await create_request(account, email=to)
    await dispatch(app, smtp.url)
    message = smtp.one_to(to)
    text, html = both(message)
    in_text, in_html = answer_links(message)
    assert len(in_text) == len(in_html) == 5
    assert "Rate &lt;Acme&gt; &amp; &#34;friends&#34;" in html or (
        "Rate &lt;Acme&gt; &amp; &quot;friends&quot;" in html
    )
    assert "<Acme>" not in html
    assert 'Rate <Acme> & "friends"\n1 (lowest): ' in text
    assert f"\n5 (highest): {in_text[-1]}" in text
    # A light brand colour gets black numbers: readable on it.
    doc = parse(html)
    for a in (a for a in doc.find_all("a") if a.get("href") in in_html):
        assert "background-color: #ffd500; color: #000000" in (a.get("style") or "")


async def test_the_scale_follows_the_survey_as_it_is_now(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    """The first current question, by position: a removed question is not asked any more."""
    async with app.state.engine.begin() as conn:
        shown = await surveys.show_survey(conn, account.id, account.survey_id)
        doc = surveys.as_file(shown)
        doc["questions"] = doc["questions"][1:]  # remove the NPS question
        await surveys.update_survey(conn, account.id, account.survey_id, doc)
    satisfied = account.survey["questions"][1]["id"]
    to = address()
    await create_request(account, email=to)
    await dispatch(app, smtp.url)
    message = smtp.one_to(to)
    in_text, in_html = answer_links(message)
    assert in_text == in_html
    assert [dict(scale_query(u))[f"q{satisfied}"] for u in in_text] == ["1", "2", "3", "4", "5"]
    text, _ = both(message)
    assert "How satisfied were you?\n1 (lowest): " in text
    assert "recommend" not in text


async def test_a_template_places_the_scale_with_its_placeholder(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    async with app.state.engine.begin() as conn:
        created = await admin.create_template(
            conn,
            account.id,
            name="One click",
            subject="A quick one{{ rating_scale }}",
            body="Dear {{ first_name }},\n\nBEFORE\n\n{{ rating_scale }}\n\nAFTER "
            "{{ survey_link }}\n\nOpt out: {{ unsubscribe_link }}\n",
        )
    to = address()
    await create_request(account, email=to, first_name="Kate", email_template_id=created["id"])
    await dispatch(app, smtp.url)
    message = smtp.one_to(to)
    assert message["Subject"] == "A quick one"  # the scale belongs to the body
    text, html = both(message)
    in_text, in_html = answer_links(message)
    assert len(in_text) == len(in_html) == 11
    before, after = text.index("BEFORE"), text.index("AFTER")
    assert before < text.index(in_text[0]) < text.index(in_text[-1]) < after
    assert html.index("BEFORE") < html.index('class="os-scale"') < html.index("AFTER")
    # The table is markup, placed once, not escaped nor made into a paragraph.
    assert html.count('class="os-scale"') == 1
    assert "&lt;table" not in html and "<p><table" not in html


async def test_opening_every_link_of_the_email_records_nothing(
    app: FastAPI, account: Account, client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    """As a link scanner (Safe Links) does on delivery: GET every link, submit nothing."""
    to = address()
    created = await create_request(account, email=to)
    await dispatch(app, smtp.url)
    message = smtp.one_to(to)
    in_text, in_html = answer_links(message)
    nps = account.survey["questions"][0]["id"]
    for value, link in enumerate([*in_text, *in_html, survey_link(message)]):
        split = urlsplit(link)
        page = await client.get(f"{split.path}?{split.query}")
        assert page.status_code == 200, page.text
        checked = [
            i.get("value")
            for i in parse(page.text).find_all("input", type="radio", name=f"q{nps}")
            if "checked" in i.attrs
        ]
        # Each score link shows its value chosen; the plain link shows none.
        assert checked == ([str(value % 11)] if value < 22 else [])

    r = await account.get("/feedback_responses", params={"email": to})
    assert r.status_code == 200, r.text
    assert r.json() == []
    assert r.headers["X-Total-Count"] == "0"
    assert (await fetch_request(account, created["id"]))["state"] == "sent"


def test_template_preview_shows_the_scale_with_a_sample_question() -> None:
    shown = preview.preview(
        "Hi",
        "Rate us:\n\n{{ rating_scale }}\n\n{{ survey_link }}",
        company="Acme",
        base=BASE,
        sender="feedback@opensure.test",
    )
    assert shown.email is not None
    doc = parse(shown.email.html)
    box = doc.find("table", class_="os-scale")
    assert box.text.startswith("How likely are you to recommend us to a friend?")
    hrefs = [a.get("href") for a in box.find_all("a")]
    assert hrefs == [f"{BASE}/s/sample?t=sample-link-token&q1={n}" for n in range(11)]
    assert f"0 (Not likely): {hrefs[0]}" in shown.email.text


def test_a_long_scale_wraps_onto_rows_of_eleven() -> None:
    question = scale.SampleQuestion(text="Score 1 to 20", nps=False, scale_min=1, scale_max=20)
    found = scale.rating_scale(question, base=BASE, code="abc", token="tok", params=())
    assert found is not None
    doc = parse(scale.as_html(found, None))
    rows = [
        [a.text for a in tr.find_all("a")]
        for tr in doc.find_all("tr")
        if tr.find_all("a") and not tr.find_all("table")
    ]
    assert rows == [[str(n) for n in range(1, 12)], [str(n) for n in range(12, 21)]]
    # The short row keeps the cells' width: empty cells fill it.
    assert len(doc.find_all("td", width="9%")) == 20
