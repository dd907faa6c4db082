"""The console's queue (/app/queue), cancelling a pending request and the requests' CSV export
(/app/feedback_requests.csv), through the real app on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Account
from tests.console.conftest import form_with_action, session_of
from tests.feedback_requests.helpers import add_survey, insert_request

T0 = dt.datetime(2031, 3, 10, 12, 0, tzinfo=dt.UTC)


def listed(page: httpx.Response) -> list[int]:
    """The request ids of the queue's table, in the order shown."""
    return [int(i) for i in re.findall(r'<tr id="request-(\d+)"', page.text)]


def link(page: httpx.Response, rel_text: str) -> str | None:
    found = re.search(rf'<a href="([^"]*)"[^>]*>{rel_text}</a>', page.text)
    return html.unescape(found[1]) if found else None


def export_link(page: httpx.Response) -> str:
    found = re.search(r'href="(/app/feedback_requests\.csv[^"]*)"', page.text)
    assert found, "no export link"
    return html.unescape(found[1])


async def queue(client: httpx.AsyncClient, query: str = "") -> httpx.Response:
    return await client.get("/app/queue" + (f"?{query}" if query else ""))


# ---- the page --------------------------------------------------------------------------------


async def test_the_queue_shows_each_requests_columns_newest_first(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    pending = await insert_request(
        app, account, email="kate@example.com", reference="T-1", send_at=T0
    )
    sent = await insert_request(
        app,
        account,
        email="bounce@example.com",
        state="sent",
        send_at=T0 - dt.timedelta(days=1),
        sent_at=T0 - dt.timedelta(days=1) + dt.timedelta(seconds=5),
        delivery_failure="550 5.1.1 mailbox unavailable",
    )
    not_sent = await insert_request(
        app,
        account,
        email="gone@example.com",
        state="not_sent",
        send_at=T0 - dt.timedelta(days=2),
        not_sent_reason="Unsubscribed",
    )
    page = await queue(admin)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert listed(page) == [pending, sent, not_sent]
    text = page.text
    for shown in (
        "kate@example.com",
        "T-1",
        account.survey["name"],
        'datetime="2031-03-10T12:00:00Z">2031-03-10<br>12:00 UTC',
        'datetime="2031-03-09T12:00:05Z"',
        "550 5.1.1 mailbox unavailable",
        "Unsubscribed",
        "Not sent",
        "Pending",
    ):
        assert shown in text, shown
    assert 'aria-current="page">Queue' in text


@pytest.mark.parametrize(
    ("state", "expected"),
    [("pending", [0]), ("sent", [1]), ("not_sent", [2]), ("all", [0, 1, 2]), ("", [0, 1, 2])],
)
async def test_state_filter(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient, state: str, expected: list[int]
) -> None:
    made = [
        await insert_request(app, account, send_at=T0, state="pending"),
        await insert_request(app, account, send_at=T0 - dt.timedelta(hours=1), state="sent"),
        await insert_request(app, account, send_at=T0 - dt.timedelta(hours=2), state="not_sent"),
    ]
    page = await queue(viewer, f"state={state}")
    assert page.status_code == 200
    assert listed(page) == [made[i] for i in expected]
    chosen = state or "all"
    assert re.search(rf'<option value="{chosen}" selected>', page.text)


async def test_search_by_email_or_reference(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient
) -> None:
    kate = await insert_request(app, account, email="Kate@Example.com", reference="A-1")
    other = await insert_request(
        app, account, email="bob@example.com", reference="kate@example.com"
    )
    await insert_request(app, account, email="kate@example.org", reference="A-10")
    # The address is compared normalised, the reference exactly.
    assert listed(await queue(viewer, "q=kate%40example.com")) == [other, kate]
    assert listed(await queue(viewer, "q=KATE%40example.COM")) == [kate]
    assert listed(await queue(viewer, "q=A-1")) == [kate]
    page = await queue(viewer, "q=nobody%40example.com")
    assert listed(page) == [] and "No feedback requests match" in page.text


async def test_survey_and_date_filters(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient
) -> None:
    second_survey = await add_survey(app, account)
    first = await insert_request(app, account, send_at=T0)
    second = await insert_request(app, account, send_at=T0, survey_id=second_survey)
    await insert_request(app, account, send_at=T0 + dt.timedelta(days=1))
    assert listed(await queue(viewer, f"survey_ids[]={second_survey}")) == [second]
    day = "from_time=2031-03-10&to_time=2031-03-10"
    assert listed(await queue(viewer, day)) == [second, first]
    page = await queue(viewer, f"{day}&survey_ids[]={account.survey_id}")
    assert listed(page) == [first]
    assert 'name="from_time" type="date" value="2031-03-10"' in page.text


async def test_another_accounts_requests_are_not_listed(
    app: FastAPI, account: Account, other_account: Account, viewer: httpx.AsyncClient
) -> None:
    mine = await insert_request(app, account, reference="SAME")
    theirs = await insert_request(app, other_account, reference="SAME")
    page = await queue(viewer, "q=SAME")
    assert listed(page) == [mine]
    assert f"request-{theirs}" not in page.text


async def test_next_page_link_walks_the_whole_queue_keeping_filters(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient
) -> None:
    made = [
        await insert_request(app, account, send_at=T0 + dt.timedelta(minutes=i), state="sent")
        for i in range(53)
    ]
    await insert_request(app, account, send_at=T0 + dt.timedelta(days=1))  # pending: filtered
    page = await queue(viewer, "state=sent")
    assert len(listed(page)) == 50
    assert link(page, "First page") is None
    following = link(page, "Next page")
    assert following is not None
    assert dict(parse_qsl(urlsplit(following).query))["state"] == "sent"
    rest = await viewer.get(following)
    assert rest.status_code == 200
    assert listed(page) + listed(rest) == made[::-1]
    assert link(rest, "Next page") is None
    assert link(rest, "First page") == "/app/queue?state=sent"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("state=queued", "State: choose one of All, Pending, Sent, Not sent."),
        ("survey_ids[]=abc", "Survey: not a survey of this account."),
        ("from_time=yesterday", "Send date from: not a date."),
        ("to_time=2031-02-30", "Send date to: not a date."),
        ("from_time=2031-03-11&to_time=2031-03-10", "Send date from: must not be after the end"),
        ("after=garbage", "Page: this link to a next page is not one the queue made."),
        ("q=" + "x" * 300, "Search: at most 254 characters."),
        ("q=a%00b", "Search: must not contain NUL characters."),
    ],
)
async def test_bad_filters_are_explained_on_the_page(
    viewer: httpx.AsyncClient, query: str, message: str
) -> None:
    page = await queue(viewer, query)
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert message in html.unescape(page.text)
    assert "<table" not in page.text
    # The form is there to correct them.
    assert 'action="/app/queue"' in page.text


@pytest.mark.parametrize(
    "query",
    [
        "from_time=0001-01-01&to_time=9999-12-31",
        "to_time=9999-12-31T23:59:59Z",
        "survey_ids[]=9223372036854775807",
        "survey_ids[]=99999999999999999999",
        "survey_ids=1,,2,",
        "q=%F0%9F%98%80",
        "q=%E2%80%AEmoc.elpmaxe%40etak",
        "q=%FF%FE",
        "after=9999-12-31T23:59:59.999999Z~9223372036854775807",
        "after=0001-01-01T00:00:00.000000Z~1",
        "after=2031-03-10T12:00:00.000000Z~99999999999999999999",
        "state=&q=&from_time=&to_time=&after=",
        "state=pending&state=sent",
        "from_time=2031-03-10T25:00:00Z",
    ],
)
async def test_odd_queries_never_fail(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient, query: str
) -> None:
    await insert_request(app, account, send_at=T0)
    for path in ("/app/queue", "/app/feedback_requests.csv"):
        r = await viewer.get(f"{path}?{query}")
        assert r.status_code in (200, 422), (path, r.status_code)


async def test_what_customers_and_clients_typed_is_escaped(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    await insert_request(
        app,
        account,
        email="x@example.com",
        reference="<script>alert(1)</script>",
        not_sent_reason='<img src=x onerror="alert(2)">',
        state="not_sent",
    )
    page = await queue(admin, "q=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<img src=x" not in page.text


async def test_an_erased_requests_address_shows_as_erased(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient
) -> None:
    made = await insert_request(app, account, state="sent", email="kate@example.com")
    r = await account.delete(f"/feedback_requests/{made}")
    assert r.status_code == 204
    page = await queue(viewer)
    assert listed(page) == [made]
    assert "(erased)" in page.text and "kate@example.com" not in page.text


# ---- cancelling ------------------------------------------------------------------------------


async def cancel_form(
    client: httpx.AsyncClient, request_id: int, query: str = ""
) -> dict[str, str]:
    page = await queue(client, query)
    return form_with_action(page.text, f"/app/feedback_requests/{request_id}/cancel")


async def test_an_admin_cancels_a_pending_request(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    made = await insert_request(app, account, reference="C-1", send_at=T0)
    kept = await insert_request(app, account, reference="C-2", send_at=T0)
    fields = await cancel_form(admin, made, "state=pending&q=C-1")
    assert fields["back"] == "/app/queue?state=pending&q=C-1"
    r = await admin.post(f"/app/feedback_requests/{made}/cancel", data=fields)
    assert r.status_code == 303
    assert r.headers["location"] == f"/app/queue?state=pending&q=C-1&cancelled={made}"
    page = await admin.get(r.headers["location"])
    assert f"Feedback request {made} is cancelled" in page.text
    assert listed(page) == []
    # The same as the API's DELETE of a pending request: it is gone.
    assert (await account.get(f"/feedback_requests/{made}")).status_code == 404
    assert (await account.get(f"/feedback_requests/{kept}")).status_code == 200


async def test_the_cancel_button_sits_behind_a_confirmation_and_only_on_pending_rows(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    pending = await insert_request(app, account, send_at=T0)
    sent = await insert_request(app, account, send_at=T0, state="sent")
    page = await queue(admin)
    assert f'action="/app/feedback_requests/{pending}/cancel"' in page.text
    assert f'action="/app/feedback_requests/{sent}/cancel"' not in page.text
    # Without JavaScript: the real button is inside a closed <details>.
    details = re.search(r"<details[^>]*>(.*?)</details>", page.text, re.S)
    assert details and "<summary>" in details[1] and 'type="submit"' in details[1]


@pytest.mark.parametrize("state", ["sent", "not_sent"])
async def test_cancelling_a_request_no_longer_pending_is_refused_and_erases_nothing(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, state: str
) -> None:
    pending = await insert_request(app, account, send_at=T0)
    fields = await cancel_form(admin, pending)
    done = await insert_request(
        app, account, send_at=T0, state=state, email="kate@example.com", first_name="Kate"
    )
    r = await admin.post(f"/app/feedback_requests/{done}/cancel", data=fields)
    assert r.status_code == 409
    assert "no longer pending" in r.text
    assert 'href="/app/queue"' in r.text
    kept = (await account.get(f"/feedback_requests/{done}")).json()
    assert kept["email"] == "kate@example.com" and kept["first_name"] == "Kate"
    assert kept["deletion_requested_at"] is None


async def test_a_viewer_cannot_cancel(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient
) -> None:
    made = await insert_request(app, account, send_at=T0)
    page = await queue(viewer)
    assert listed(page) == [made]
    assert "/cancel" not in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = await viewer.post(f"/app/feedback_requests/{made}/cancel", data={"csrf_token": token[1]})
    assert r.status_code == 403
    assert (await account.get(f"/feedback_requests/{made}")).status_code == 200


async def test_another_accounts_request_is_404_and_untouched(
    app: FastAPI, account: Account, other_account: Account, admin: httpx.AsyncClient
) -> None:
    mine = await insert_request(app, account, send_at=T0)
    theirs = await insert_request(app, other_account, send_at=T0)
    fields = await cancel_form(admin, mine)
    for target in (theirs, 987654321):
        r = await admin.post(f"/app/feedback_requests/{target}/cancel", data=fields)
        assert r.status_code == 404, target
        assert r.headers["content-type"].startswith("text/html")
    r = await admin.post("/app/feedback_requests/abc/cancel", data=fields)
    assert r.status_code == 404
    assert (await other_account.get(f"/feedback_requests/{theirs}")).status_code == 200


@pytest.mark.parametrize("token", [None, "", "forged"])
async def test_cancel_without_the_forms_token_is_403(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, token: str | None
) -> None:
    made = await insert_request(app, account, send_at=T0)
    data = {} if token is None else {"csrf_token": token}
    r = await admin.post(f"/app/feedback_requests/{made}/cancel", data=data)
    assert r.status_code == 403
    assert (await account.get(f"/feedback_requests/{made}")).status_code == 200


@pytest.mark.parametrize(
    "back",
    ["https://evil.example/", "//evil.example/app/queue", "/app/account", "/app/queue\r\nX: y"],
)
async def test_cancel_returns_only_to_the_queue(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, back: str
) -> None:
    made = await insert_request(app, account, send_at=T0)
    fields = {**(await cancel_form(admin, made)), "back": back}
    r = await admin.post(f"/app/feedback_requests/{made}/cancel", data=fields)
    assert r.status_code == 303
    assert r.headers["location"] == f"/app/queue?cancelled={made}"


async def test_cancelling_twice_is_404_the_second_time(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    made = await insert_request(app, account, send_at=T0)
    fields = await cancel_form(admin, made)
    assert (
        await admin.post(f"/app/feedback_requests/{made}/cancel", data=fields)
    ).status_code == 303
    assert (
        await admin.post(f"/app/feedback_requests/{made}/cancel", data=fields)
    ).status_code == 404


# ---- the export ------------------------------------------------------------------------------


def parse_csv(response: httpx.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


async def test_the_export_link_carries_the_pages_filters(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient
) -> None:
    second_survey = await add_survey(app, account)
    wanted = await insert_request(app, account, send_at=T0, state="sent", reference="E-1")
    await insert_request(app, account, send_at=T0, state="pending", reference="E-1")
    await insert_request(app, account, send_at=T0, state="sent", reference="E-2")
    await insert_request(app, account, send_at=T0, state="sent", survey_id=second_survey)
    page = await queue(viewer, f"state=sent&q=E-1&survey_ids[]={account.survey_id}")
    href = export_link(page)
    assert urlsplit(href).path == "/app/feedback_requests.csv"
    r = await viewer.get(href)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert ".csv" in r.headers["content-disposition"]
    assert "content-length" not in r.headers  # streamed
    rows = parse_csv(r)
    assert [int(row["id"]) for row in rows] == [wanted]
    api = (await account.get(f"/feedback_requests/{wanted}")).json()
    assert rows[0] == {k: "" if v is None else str(v) for k, v in api.items() if k in rows[0]}
    assert "data" not in rows[0] and "query_params" not in rows[0]


async def test_the_export_takes_the_spec_filters(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient
) -> None:
    second_survey = await add_survey(app, account)
    inside = await insert_request(app, account, send_at=T0)
    await insert_request(app, account, send_at=T0 + dt.timedelta(hours=2))
    await insert_request(app, account, send_at=T0, survey_id=second_survey)
    r = await viewer.get(
        "/app/feedback_requests.csv",
        params={
            "survey_ids[]": str(account.survey_id),
            "from_time": "2031-03-10T11:00:00Z",
            "to_time": "2031-03-10T13:00:00Z",
        },
    )
    assert r.status_code == 200
    assert [int(row["id"]) for row in parse_csv(r)] == [inside]


async def test_an_empty_export_is_the_header_row(viewer: httpx.AsyncClient) -> None:
    r = await viewer.get("/app/feedback_requests.csv")
    assert r.status_code == 200
    header = r.text.splitlines()[0].split(",")
    assert header[:3] == ["id", "email", "state"]
    assert "send_at" in header and "not_sent_reason" in header and "delivery_failure" in header
    assert r.text.count("\n") == 1


async def test_exported_cells_cannot_run_as_formulas(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient
) -> None:
    await insert_request(
        app,
        account,
        first_name="=cmd|' /C calc'!A0",
        reference="@SUM(1+1)",
        surname="-2+3",
        machine_id="+1",
    )
    (row,) = parse_csv(await viewer.get("/app/feedback_requests.csv"))
    assert row["first_name"] == "'=cmd|' /C calc'!A0"
    assert row["reference"] == "'@SUM(1+1)"
    assert row["surname"] == "'-2+3"
    assert row["machine_id"] == "'+1"


async def test_an_export_with_bad_filters_is_the_page_with_the_problem(
    viewer: httpx.AsyncClient,
) -> None:
    r = await viewer.get("/app/feedback_requests.csv?state=queued")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("text/html")
    assert "State: choose one of" in r.text


async def test_the_export_holds_only_the_signed_in_account(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    await insert_request(app, other_account, reference="THEIRS")
    mine = await insert_request(app, account, reference="MINE")
    async with session_of(app, account, "viewer") as client:
        rows = parse_csv(await client.get("/app/feedback_requests.csv"))
    assert [int(r["id"]) for r in rows] == [mine]
