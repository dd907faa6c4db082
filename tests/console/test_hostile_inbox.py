"""A hostile corpus through the inbox, the response page and the CSV: what customers and API
clients typed is shown as text, never run, never linked unless it is a web address."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re

import httpx
from fastapi import FastAPI
from sqlalchemy import insert

from opensure.models import FeedbackRequestItem
from tests.conftest import Account
from tests.console.inbox_pages import csv_rows, inbox, parse, set_link_back
from tests.feedback_responses.inbox_support import T0, add_response, make_org, question_ids
from tests.feedback_responses.support import answer_ok

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
JS = "javascript:alert(1)"
RLO = "\u202e"  # right-to-left override: "gnp.exe" shows as "exe.png"
EMOJI = "👍🏽 🎉 👨‍👩‍👧"
LONG = ("A long story <b>with tags</b> & more. " * 300)[:10_000]
_rng = random.Random(13)
JUNK = "bin " + bytes(_rng.randrange(1, 256) for _ in range(300)).decode("latin-1")  # no NUL

CORPUS = [SCRIPT, IMG, JS, f"invoice{RLO}gnp.exe", EMOJI, JUNK]


def _bidi_isolated(html: str) -> bool:
    """Every override character sits inside a <bdi>, so it cannot reorder the page around it."""
    for m in re.finditer(RLO, html):
        before = html[: m.start()]
        if before.rfind("<bdi") < before.rfind("</bdi>") or before.rfind("<bdi") == -1:
            return False
    return True


def _no_markup_from_data(html: str) -> None:
    page_script = '<script src="/app/static/console.js" defer></script>'
    assert html.count("<script") == html.count(page_script) == 1
    assert "<img" not in html
    assert "<b>with tags</b>" not in html
    for href in parse(html).hrefs:
        assert "javascript:" not in href.lower(), href
        assert href.startswith(("/", "#", "https://", "http://")), href


async def _hostile(app: FastAPI, account: Account, client: httpx.AsyncClient) -> list[int]:
    org = await make_org(app, account)
    ids = []
    for n, value in enumerate(CORPUS):
        rid = await add_response(
            app,
            account,
            T0 + dt.timedelta(seconds=n),
            rating=n,
            comment=f"{value} comment",
            name=value[:200],
            email=f"x{n}@example.com",
            reference=value[:100],
            machine_id=value[:36],
            options=[org.options["gold"]],
        )
        ids.append(rid)
    async with app.state.engine.begin() as conn:
        request_ids = (
            await conn.exec_driver_sql(
                "SELECT feedback_request_id FROM feedback_responses "
                f"WHERE id IN ({','.join(map(str, ids))})"
            )
        ).scalars()
        await conn.execute(
            insert(FeedbackRequestItem.__table__),
            [
                {"feedback_request_id": r, "kind": "data", "key": "note", "value": v[:100]}
                for r, v in zip(request_ids, CORPUS, strict=True)
            ],
        )
    # The 10 KB answer and a hostile name, through the real survey page.
    text_q = question_ids(account)[2]
    await answer_ok(
        client,
        f"/s/{account.survey['code']}",
        {
            question_ids(account)[0]: "10",
            question_ids(account)[1]: "5",
            text_q: LONG,
            question_ids(account)[3]: "Yes",
        },
        name=f"{SCRIPT}{EMOJI}",
        email="long@example.com",
    )
    return ids


async def test_the_inbox_shows_the_corpus_as_text(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    await _hostile(app, account, client)
    await set_link_back(app, account, "{machine_id}")
    html = await inbox(admin)
    _no_markup_from_data(html)
    assert _bidi_isolated(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; comment" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert EMOJI in html
    rows = parse(html).rows
    assert len(rows) == len(CORPUS) + 1
    long_row = next(r for r in rows if r[3].startswith("A long story"))
    assert len(long_row[3]) <= 160 and long_row[3].endswith("…")
    assert long_row[4] == f"{SCRIPT}{EMOJI} long@example.com"
    # Searching for the markup finds it, and the search box shows it back as text.
    found = await inbox(admin, q=IMG)
    _no_markup_from_data(found)
    assert 'value="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"' in found
    assert len(parse(found).rows) == 1


async def test_the_response_page_shows_the_corpus_as_text(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    ids = await _hostile(app, account, client)
    for template in ("{machine_id}", "{reference}", "https://desk.example.com/t/{machine_id}"):
        await set_link_back(app, account, template)
        for rid in ids:
            page = await admin.get(f"/app/responses/{rid}")
            assert page.status_code == 200
            _no_markup_from_data(page.text)
            assert _bidi_isolated(page.text)
        js = (await admin.get(f"/app/responses/{ids[2]}")).text
        links = [h for h in parse(js).hrefs if "desk.example.com" in h]
        if template.startswith("https://"):
            assert links == ["https://desk.example.com/t/javascript%3Aalert%281%29"]
        else:
            assert links == []
    long_id = max(ids) + 1
    page = (await admin.get(f"/app/responses/{long_id}")).text
    assert LONG.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in page
    _no_markup_from_data(page)


async def test_the_csv_keeps_the_corpus_and_neutralises_formulas(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    await _hostile(app, account, client)
    response = await admin.get("/app/responses.csv")
    assert response.headers["x-content-type-options"] == "nosniff"
    header, *rows = await csv_rows(admin, "/app/responses.csv")
    comments = {r[header.index("Anything else?")] for r in rows}
    assert {f"{v} comment" for v in CORPUS} | {LONG} == comments
    names = [r[header.index("name")] for r in rows]
    assert f"{SCRIPT}{EMOJI}" in names and JUNK[:200] in names
    assert list(csv.reader(io.StringIO(response.text)))[1:] == rows
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)
