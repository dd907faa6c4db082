"""The inbox at /app/ and /app/responses: newest first, pages by cursor, filters as query
parameters, readable messages for bad ones, the export link carrying them."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from opensure.feedback_responses import service
from tests.conftest import Account
from tests.console.inbox_pages import export_link, inbox, next_link, parse, response_ids
from tests.feedback_responses.inbox_support import T0, add_response, make_org

SECOND = dt.timedelta(seconds=1)


async def test_the_home_is_the_inbox_newest_first_fifty_a_page(
    app: FastAPI, account: Account, other_account: Account, admin: httpx.AsyncClient
) -> None:
    made = [await add_response(app, account, T0 + n * SECOND, rating=n % 11) for n in range(53)]
    await add_response(app, other_account, T0 + 99 * SECOND, rating=1)
    home = await admin.get("/app/")
    assert home.status_code == 200
    assert home.headers["content-security-policy"].startswith("default-src 'none'")
    assert 'aria-current="page">Inbox' in home.text
    assert response_ids(home.text) == made[::-1][:50]
    following = next_link(home.text)
    assert following is not None and following.startswith("/app/responses?after=")
    rest = await inbox(admin, following)
    assert response_ids(rest) == made[::-1][50:]
    assert next_link(rest) is None


async def test_a_row_shows_date_survey_score_comment_customer_reference(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    await add_response(
        app,
        account,
        T0,
        rating=9,
        comment="Fixed on the first call",
        name="Kate Bush",
        email="kate@example.com",
        reference="T-42",
    )
    (row,) = parse(await inbox(admin)).rows
    assert row == [
        "2026-11-02 12:00",
        "Support satisfaction",
        "9 (promoter)",
        "Fixed on the first call",
        "Kate Bush kate@example.com",
        "T-42",
    ]
    assert 'class="badge badge-promoter"' in await inbox(admin)


async def test_filters_come_from_the_query_and_stay_in_the_form_the_pages_and_the_export(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    org = await make_org(app, account)
    wanted = [
        await add_response(
            app,
            account,
            T0 + n * SECOND,
            rating=2,
            comment=f"refund {n}",
            staff_id=org.staff["ann"],
        )
        for n in range(52)
    ]
    await add_response(app, account, T0, rating=2, comment="refund", staff_id=org.staff["bob"])
    await add_response(app, account, T0, rating=9, comment="refund", staff_id=org.staff["ann"])
    await add_response(app, account, T0, rating=2, comment="thanks", staff_id=org.staff["ann"])
    params = {
        "survey_ids[]": str(account.survey_id),
        "band": "detractor",
        "staff_id": str(org.staff["ann"]),
        "q": "refund",
        "has_comment": "1",
        "from_time": "2026-11-02T12:00:00Z",
        "to_time": "2026-11-02T13:00:00Z",
    }
    html = await inbox(admin, **params)
    assert response_ids(html) == wanted[::-1][:50]
    assert f'value="{org.staff["ann"]}" selected' in html
    assert '<option value="detractor" selected>' in html
    assert 'name="has_comment" value="1" checked' in html
    assert 'value="refund"' in html
    following = next_link(html)
    assert following is not None
    assert dict(parse_qsl(urlsplit(following).query)).items() >= params.items()
    assert response_ids(await inbox(admin, following)) == wanted[::-1][50:]
    export = export_link(html)
    assert dict(parse_qsl(urlsplit(export).query)) == params
    assert export_link(await inbox(admin)) == "/app/responses.csv"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("band=fans", "Choose promoter, passive or detractor."),
        ("score=11", "Choose a score from 0 to 10."),
        ("from_time=yesterday", "Enter a date and time such as 2026-12-01T09:30:00Z."),
        ("from_time=2026-12-02&to_time=2026-12-01", "must not be before its start"),
        ("staff_id=ann", "Choose one from the list."),
        ("segment_option_id=99999999999999999999", "Choose one from the list."),
        ("survey_ids[]=x", "Choose one from the list."),
        ("q=%21%21%21", "Search for words: letters or digits."),
        ("after=garbage", "This page link is broken"),
        ("has_comment=%3Cscript%3E", "Tick the box or leave it empty."),
    ],
)
async def test_bad_filter_values_give_the_page_again_with_a_message(
    admin: httpx.AsyncClient, query: str, message: str
) -> None:
    page = await admin.get(f"/app/responses?{query}")
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "These filters cannot be used" in page.text
    assert message in page.text
    assert '<form class="filters" method="get" action="/app/responses"' in page.text
    assert "<script>" not in page.text.replace('<script src="/app/static/console.js" defer>', "")


async def test_every_filter_field_has_a_label(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    await make_org(app, account)
    html = await inbox(admin)
    for field in set(service.FILTER_PARAMS) - {"survey_ids"}:
        assert f'<label for="f-{field}">' in html, field
        assert f'id="f-{field}"' in html, field
    assert "<legend>Survey</legend>" in html


async def test_a_viewer_reads_the_inbox(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient
) -> None:
    rid = await add_response(app, account, T0, rating=5)
    assert response_ids(await inbox(viewer, "/app/")) == [rid]
