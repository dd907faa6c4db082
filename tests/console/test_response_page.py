"""GET /app/responses/{id}: every answer, the customer, the request it came from, and the
reference linked back to its ticket through the account's template."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert

from opensure.models import FeedbackRequestItem
from tests.conftest import Account
from tests.console.inbox_pages import parse, set_link_back
from tests.feedback_responses.inbox_support import T0, add_response, full_response


def _rows(html: str) -> dict[str, str]:
    return {row[0]: row[1] for row in parse(html).rows if len(row) == 2}


async def test_the_page_shows_answers_customer_and_request(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    rid = await full_response(app, account)
    page = await admin.get(f"/app/responses/{rid}")
    assert page.status_code == 200
    html = page.text
    assert "How likely are you to recommend us?" in html
    assert 'class="badge badge-detractor">6 · detractor' in html
    assert '<bdi class="answer-text">Line one\nline two</bdi>' in html
    assert 'Was your issue solved?</bdi> <span class="muted">(Radio)' in html
    rows = _rows(html)
    assert rows["Name"] == "Kate Bush"
    assert rows["E-mail"] == "kate@example.com"
    assert rows["Telephone"] == "0123 456"
    assert rows["Reference"] == "T-42"
    assert rows["Machine id"] == "m-42"
    assert rows["Send at"] == rows["Sent at"] == "2026-11-02T12:00:00Z"
    assert rows["Staff member"] == "Ann (ann)"
    assert rows["Team"] == "North"
    assert rows["Site"] == "Site LDN (LDN)"
    assert rows["Segment plan"] == "gold"
    # Without a link-back template the reference is text, not a link.
    assert not [h for h in parse(html).hrefs if "T-42" in h or "m-42" in h]


async def test_the_requests_data_is_shown(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    rid = await full_response(app, account)
    async with app.state.engine.begin() as conn:
        request_id = (
            await conn.exec_driver_sql(
                f"SELECT feedback_request_id FROM feedback_responses WHERE id = {rid}"
            )
        ).scalar()
        await conn.execute(
            insert(FeedbackRequestItem.__table__),
            [
                {"feedback_request_id": request_id, "kind": "data", "key": "order", "value": "9"},
                {
                    "feedback_request_id": request_id,
                    "kind": "query_param",
                    "key": "c",
                    "value": "x",
                },
            ],
        )
    rows = _rows((await admin.get(f"/app/responses/{rid}")).text)
    assert rows["Data order"] == "9"
    assert rows["Link parameter c"] == "x"


@pytest.mark.parametrize(
    ("template", "href"),
    [
        (
            "https://desk.example.com/tickets/{machine_id}",
            "https://desk.example.com/tickets/m%2F42",
        ),
        ("http://crm.example/find?ref={reference}", "http://crm.example/find?ref=T%2042%26x%3D1"),
    ],
)
async def test_the_reference_links_back_through_the_accounts_template(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, template: str, href: str
) -> None:
    rid = await full_response(app, account, reference="T 42&x=1", machine_id="m/42")
    await set_link_back(app, account, template)
    html = (await admin.get(f"/app/responses/{rid}")).text
    assert href in parse(html).hrefs
    assert f'<a href="{href.replace("&", "&amp;")}" rel="noopener noreferrer"' in html


@pytest.mark.parametrize(
    ("template", "machine_id"),
    [
        ("javascript:alert(1)//{machine_id}", "m-42"),
        ("{machine_id}", "javascript:alert(1)"),
        ("https://desk.example.com/{machine_id}", ""),
    ],
)
async def test_no_link_unless_it_is_a_web_address(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, template: str, machine_id: str
) -> None:
    rid = await full_response(app, account, machine_id=machine_id)
    await set_link_back(app, account, template)
    html = (await admin.get(f"/app/responses/{rid}")).text
    assert _rows(html)["Reference"] == "T-42"
    assert all(h.startswith(("/", "#")) for h in parse(html).hrefs), parse(html).hrefs


@pytest.mark.parametrize("path", ["{other}", "{missing}", "abc", "0", "-1", "1.0"])
async def test_another_accounts_or_no_response_is_not_found(
    app: FastAPI,
    account: Account,
    other_account: Account,
    admin: httpx.AsyncClient,
    path: str,
) -> None:
    other = await add_response(app, other_account, T0, rating=10, name="Not yours")
    page = await admin.get("/app/responses/" + path.format(other=other, missing=other + 100_000))
    assert page.status_code == 404
    assert "Not yours" not in page.text
    assert page.headers["content-type"].startswith("text/html")


async def test_a_viewer_reads_a_response(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient
) -> None:
    rid = await full_response(app, account)
    assert (await viewer.get(f"/app/responses/{rid}")).status_code == 200
