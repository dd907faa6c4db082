"""SPEC §10: a request's ``language`` data item chooses its e-mail's language (the built-in
default template); unknown or missing → English; an account's own template stays as written."""

from __future__ import annotations

import copy
import html
import re
from email.message import EmailMessage

import httpx
from fastapi import FastAPI
from sqlalchemy import event

from opensure.accounts import service as admin
from opensure.dispatch import repository as dispatch_repo
from tests.conftest import Account, make_account
from tests.dispatch.support import (
    SmtpServer,
    address,
    create_request,
    dispatch,
    links,
    now_iso,
    parts,
    survey_link,
)
from tests.surveys.conftest import EVERYTHING
from tests.surveys.test_translations import FRENCH, GERMAN, TRANSLATED

ENGLISH_SUBJECT = "Kate, how did we do?"
ENGLISH_LINE = "Thank you for choosing"


def language(tag: str) -> list[dict[str, str]]:
    return [{"key": "team", "value": "support"}, {"key": "language", "value": tag}]


async def send(
    app: FastAPI, account: Account, smtp: SmtpServer, **tags: str | None
) -> dict[str, EmailMessage]:
    """One e-mail per label, each with its ``language`` item (None: no item); by label."""
    to = {label: address(label) for label in tags}
    for label, tag in tags.items():
        fields = {"data": language(tag)} if tag is not None else {}
        await create_request(
            account, email=to[label], first_name="Kate", reference="#1041", **fields
        )
    await dispatch(app, smtp.url)
    return {label: smtp.one_to(to[label]) for label in tags}


def html_tag(html: str) -> str:
    found = re.search(r"<html[^>]*>", html)
    assert found is not None
    return found[0]


async def test_email_in_the_request_language(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    got = await send(app, account, smtp, en=None, de="de", ar="ar", fr="fr-CA", xx="xx")

    english_text, english_html = parts(got["en"])
    assert got["en"]["Subject"] == ENGLISH_SUBJECT
    assert english_text.startswith("Hi Kate,")
    assert ENGLISH_LINE in english_text
    assert html_tag(english_html) == '<html lang="en" dir="ltr">'

    de_text, de_html = parts(got["de"])
    assert got["de"]["Subject"] == "Kate, wie zufrieden waren Sie mit uns?"
    assert de_text.startswith("Hallo Kate,")
    assert "Vielen Dank, dass Sie sich für" in de_text and "(Ihre Referenz: #1041)" in de_text
    assert "Ihre Antworten gehen direkt an das Team, das Ihnen geholfen hat." in de_text
    assert ENGLISH_LINE not in de_text
    assert html_tag(de_html) == '<html lang="de" dir="ltr">'
    assert "Vielen Dank, dass Sie sich f" in de_html  # the HTML part too

    ar_text, ar_html = parts(got["ar"])
    assert got["ar"]["Subject"] == "Kate، ما رأيك في خدمتنا؟"
    assert ar_text.startswith("مرحبًا Kate،")
    assert "شكرًا لاختيارك" in ar_text and "#1041" in ar_text
    assert html_tag(ar_html) == '<html lang="ar" dir="rtl">'

    # fr-CA: French, the language of the region; an unknown tag: English.
    fr_text, _ = parts(got["fr"])
    assert got["fr"]["Subject"] == "Kate, qu'avez-vous pensé de notre service ?"
    assert fr_text.startswith("Bonjour Kate,")
    xx_text, _ = parts(got["xx"])
    assert got["xx"]["Subject"] == ENGLISH_SUBJECT
    assert without_links(xx_text) == without_links(english_text)

    # Every language keeps the links: the survey link and the unsubscribe link.
    for message in got.values():
        text, _ = parts(message)
        assert survey_link(message) in text
        assert any("/u/" in link for link in links(text))
        assert message["List-Unsubscribe"]


def without_links(text: str) -> str:
    """An e-mail's text with its links (each request's own tokens) taken out."""
    return re.sub(r"https?://\S+", "LINK", text)


async def test_account_template_stays_as_written(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    async with app.state.engine.begin() as conn:
        template = await admin.create_template(
            conn,
            account.id,
            name="Own words",
            subject="A quick question, {{ first_name }}",
            body="Dear {{ first_name }},\n\n{{ survey_link }}\n\n{{ unsubscribe_link }}\n",
        )
    to = address()
    await create_request(
        account, email=to, first_name="Kate", email_template_id=template["id"], data=language("de")
    )
    await dispatch(app, smtp.url)
    message = smtp.one_to(to)
    assert message["Subject"] == "A quick question, Kate"
    text, html = parts(message)
    assert text.startswith("Dear Kate,")
    # Its language is not known: the HTML part does not claim one.
    assert html_tag(html) == "<html>"


async def test_the_language_comes_with_the_batch(app: FastAPI, account: Account) -> None:
    """The dispatcher's one load query carries each request's language (none: NULL)."""
    later = now_iso(days=1)  # not due: left for no other test's dispatcher
    made = [
        await create_request(account, send_at=later, data=language("nl")),
        await create_request(account, send_at=later),
        await create_request(account, send_at=later, data=[{"key": "Language", "value": "de"}]),
    ]
    async with app.state.engine.connect() as conn:
        rows = await dispatch_repo.load(conn, [m["id"] for m in made])
    assert [row.language for row in rows] == ["nl", None, None]


async def test_no_query_per_email_for_the_language(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    """Reading the items (the language among them) costs the same few statements for a batch
    of 2 e-mails as for a batch of 10."""
    seen: list[str] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "feedback_request_items" in statement:
            seen.append(statement)

    engine = app.state.engine.sync_engine
    counts = []
    await dispatch(app, smtp.url)  # what other tests left due
    for n in (2, 10):
        for i in range(n):
            await create_request(account, data=language(("de", "ar", "fr-CA")[i % 3]))
        seen.clear()
        event.listen(engine, "before_cursor_execute", note)
        try:
            assert await dispatch(app, smtp.url) == n
        finally:
            event.remove(engine, "before_cursor_execute", note)
        counts.append(len(seen))
    assert counts[0] == counts[1] <= 2, counts


async def test_the_scale_question_reads_in_the_surveys_own_translation(
    app: FastAPI, client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    """One click: the first question shown in the e-mail is the survey's own translation for
    the request's language (its end words the built-in catalog's); without one, the original."""
    account = await make_account(app, client, survey=copy.deepcopy(TRANSLATED))
    original = EVERYTHING["questions"][0]["text"]
    got = await send(app, account, smtp, fr="fr-CA", de="de", en=None, nl="nl")

    fr_text, fr_html = parts(got["fr"])
    assert FRENCH["questions"][0]["text"] in fr_text and original not in fr_text
    assert "0 (Peu probable)" in fr_text and "Peu probable" in fr_html
    assert html.escape(FRENCH["questions"][0]["text"]) in fr_html
    de_text, _ = parts(got["de"])
    assert GERMAN["questions"][0]["text"] in de_text and "0 (Unwahrscheinlich)" in de_text
    en_text, _ = parts(got["en"])
    assert original in en_text and "0 (Not likely)" in en_text
    # No Dutch translation of the survey: its question as written, Dutch around it.
    nl_text, _ = parts(got["nl"])
    assert original in nl_text and "0 (Niet waarschijnlijk)" in nl_text
