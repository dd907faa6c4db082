"""The console inbox's data: newest first in keyset pages, every filter alone and together,
text search in the answers, the response page's details and the CSV export, on both engines."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI

from opensure.feedback_responses import repository as repo
from opensure.feedback_responses import service
from opensure.feedback_responses.repository import InboxFilter
from opensure.feedback_responses.service import BadFilter
from opensure.metrics import definitions
from opensure.surveys import importer
from tests.conftest import SURVEY, Account
from tests.feedback_responses.inbox_support import (
    T0,
    add_response,
    full_response,
    make_org,
    question_ids,
    session,
)

SECOND = dt.timedelta(seconds=1)


async def walk(app: FastAPI, account: Account, filters: InboxFilter) -> list[list[int]]:
    """The ids of every page of the inbox, following each page's cursor."""
    pages: list[list[int]] = []
    after = None
    while True:
        async with session(app) as s:
            page = await service.inbox(s, account.id, filters, service.parse_cursor(after))
        pages.append([item.id for item in page.items])
        if page.after is None:
            return pages
        after = page.after


async def ids(app: FastAPI, account: Account, **query: Any) -> list[int]:
    raw = {k: v if isinstance(v, list) else [str(v)] for k, v in query.items()}
    return [i for page in await walk(app, account, service.parse_filter(raw)) for i in page]


async def test_pages_of_fifty_newest_first_ties_by_id_each_response_once(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    made = []
    for n in range(120):
        # Three responses share each second: the id orders them.
        made.append(
            (T0 + (n // 3) * SECOND, await add_response(app, account, T0 + (n // 3) * SECOND))
        )
    await add_response(app, other_account, T0)
    pages = await walk(app, account, InboxFilter())
    assert [len(p) for p in pages] == [50, 50, 20]
    expected = [rid for _, rid in sorted(made, key=lambda m: (m[0], m[1]), reverse=True)]
    assert [i for p in pages for i in p] == expected


async def test_an_empty_inbox_is_one_empty_last_page(app: FastAPI, account: Account) -> None:
    assert await walk(app, account, InboxFilter()) == [[]]


async def test_each_filter_alone_and_all_together(app: FastAPI, account: Account) -> None:
    org = await make_org(app, account)
    async with app.state.engine.begin() as conn:  # a second survey of the same account
        other_survey = await importer.import_survey(conn, account.id, {**SURVEY, "name": "Other"})
    by_rating = {r: await add_response(app, account, T0 + r * SECOND, rating=r) for r in range(11)}
    ann = await add_response(
        app,
        account,
        T0 + 20 * SECOND,
        rating=10,
        comment="Ann was great",
        staff_id=org.staff["ann"],
        team_id=org.teams["North"],
        site_id=org.sites["LDN"],
        options=[org.options["gold"]],
    )
    bob = await add_response(
        app,
        account,
        T0 + 21 * SECOND,
        rating=3,
        comment="   ",
        staff_id=org.staff["bob"],
        team_id=org.teams["South"],
        site_id=org.sites["MAN"],
        options=[org.options["free"]],
    )
    elsewhere = await add_response(
        app, account, T0 + 22 * SECOND, rating=10, survey_id=int(other_survey["id"])
    )
    everything = [elsewhere, bob, ann, *reversed(by_rating.values())]
    assert await ids(app, account) == everything

    rated = {**{rid: r for r, rid in by_rating.items()}, ann: 10, bob: 3, elsewhere: 10}
    for band in service.BANDS:
        expected = [i for i in everything if definitions.band(rated[i]) == band]
        assert await ids(app, account, band=band) == expected
    assert await ids(app, account, score=10) == [elsewhere, ann, by_rating[10]]
    assert await ids(app, account, score=0) == [by_rating[0]]
    assert await ids(app, account, **{"survey_ids[]": [str(account.survey_id)]}) == everything[1:]
    assert (
        await ids(app, account, survey_ids=f"{other_survey['id']},{account.survey_id}")
        == everything
    )
    assert await ids(app, account, staff_id=org.staff["ann"]) == [ann]
    assert await ids(app, account, team_id=org.teams["South"]) == [bob]
    assert await ids(app, account, site_id=org.sites["LDN"]) == [ann]
    assert await ids(app, account, segment_option_id=org.options["free"]) == [bob]
    # A comment is a non-empty answer to a Text question; blanks are none.
    assert await ids(app, account, has_comment=1) == [ann]
    assert await ids(app, account, has_comment=0) == everything
    together = {
        "survey_ids[]": [str(account.survey_id)],
        "from_time": (T0 + 20 * SECOND).isoformat(),
        "to_time": (T0 + 21 * SECOND).isoformat(),
        "band": "promoter",
        "score": "10",
        "staff_id": org.staff["ann"],
        "team_id": org.teams["North"],
        "site_id": org.sites["LDN"],
        "segment_option_id": org.options["gold"],
        "has_comment": "1",
        "q": "GREAT ann",
    }
    assert await ids(app, account, **together) == [ann]
    assert await ids(app, account, **{**together, "staff_id": org.staff["bob"]}) == []


async def test_the_time_window_is_inclusive_in_whole_seconds(
    app: FastAPI, account: Account
) -> None:
    before = await add_response(app, account, T0 - dt.timedelta(microseconds=1))
    first = await add_response(app, account, T0)
    last = await add_response(app, account, T0 + 10 * SECOND + dt.timedelta(microseconds=400_000))
    after = await add_response(app, account, T0 + 11 * SECOND)
    window = {"from_time": "2026-11-02T12:00:00Z", "to_time": "2026-11-02T12:00:10Z"}
    assert await ids(app, account, **window) == [last, first]
    assert await ids(app, account, from_time="2026-11-02T12:00:00Z") == [after, last, first]
    assert await ids(app, account, to_time="2026-11-02T11:59:59Z") == [before]
    # Any offset a client gives is the same instant.
    assert await ids(app, account, from_time="2026-11-02T13:00:11+01:00") == [after]


async def test_search_finds_every_word_as_a_word_beginning_in_one_answer(
    app: FastAPI, account: Account
) -> None:
    refund = await add_response(
        app, account, T0, comment="The REFUNDS took three weeks; never again!"
    )
    cafe = await add_response(app, account, T0 + SECOND, comment="Le café était très bon 🎉")
    split = await add_response(
        app,
        account,
        T0 + 2 * SECOND,
        comment="refund please",
        answers={question_ids(account)[3]: "Yes"},
    )
    assert await ids(app, account, q="refund") == [split, refund]
    assert await ids(app, account, q="Refunds took") == [refund]
    assert await ids(app, account, q="ref wee") == [refund]  # beginnings of words
    assert await ids(app, account, q="efund") == []  # not the middle of a word
    assert await ids(app, account, q="très") == [cafe]
    assert await ids(app, account, q="CAFÉ") == [cafe]
    assert await ids(app, account, q="cafe") == []  # accents are letters of their own
    # Punctuation separates words and is not searched for, markup and addresses included.
    assert await ids(app, account, q="weeks; never-again!") == [refund]
    markup = await add_response(
        app,
        account,
        T0 + 3 * SECOND,
        comment='"><img src=x onerror=alert(1)> kate@example.com 12.5',
    )
    assert await ids(app, account, q="img onerror") == [markup]
    assert await ids(app, account, q="example com") == [markup]
    assert await ids(app, account, q="5") == [markup]
    # Every word in one answer: "refund" and "yes" are two answers of one response.
    assert await ids(app, account, q="refund yes") == []
    assert await ids(app, account, q="yes") == [split]


async def test_search_gives_the_same_pages_by_matching_ids_or_by_walking(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    """PostgreSQL reads a search's page by the matching responses' ids when the index finds
    few, by walking the newest responses when it finds many: both give the same pages."""
    made = [
        await add_response(app, account, T0 + (n // 2) * SECOND, comment=f"Refund {n}")
        for n in range(60)
    ]
    await add_response(app, other_account, T0, comment="refund elsewhere")
    f = InboxFilter(words=("refund",))
    for cap in (repo.SEARCH_CAP, 0):
        pages = []
        after = None
        while True:
            async with session(app) as s:
                rows = await repo.inbox_page(s, account.id, f, after, 25, search_cap=cap)
            pages.append([r.id for r in rows])
            if len(rows) < 25:
                break
            after = repo.Cursor(service.row_time(rows[-1]), rows[-1].id)
        assert pages == [made[::-1][:25], made[::-1][25:50], made[::-1][50:]], cap


async def test_search_goes_through_the_index(app: FastAPI) -> None:
    async with app.state.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # The inbox's search condition reads the FTS5 table by its full-text index.
            condition = repo._search_sqlite(1).replace("?1", "'\"refund\"*'")
            plan = await conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN SELECT r.id FROM feedback_responses r WHERE {condition}"
            )
            details = "\n".join(str(r[-1]) for r in plan)
            assert "VIRTUAL TABLE INDEX" in details and repo.ANSWER_SEARCH in details, details
            return
        await conn.exec_driver_sql("SET enable_seqscan = off")
        plan = await conn.exec_driver_sql(
            "EXPLAIN " + repo.SEARCH_HITS.postgresql, ("'refund':*", 10)
        )
        assert "ix_answers_search" in "\n".join(r[0] for r in plan)


async def test_search_follows_answers_as_they_change_and_go(app: FastAPI, account: Account) -> None:
    rid = await add_response(app, account, T0, comment="slow delivery")
    text_q = question_ids(account)[2]
    async with app.state.engine.begin() as conn:
        await repo.replace_answers(conn, rid, {text_q: ("quick reply", None)})
    assert await ids(app, account, q="slow") == []
    assert await ids(app, account, q="quick") == [rid]
    async with app.state.engine.begin() as conn:
        await conn.exec_driver_sql(
            f"UPDATE answers SET value = 'changed mind' WHERE feedback_response_id = {rid}"
        )
    assert await ids(app, account, q="quick") == []
    assert await ids(app, account, q="changed") == [rid]
    async with app.state.engine.begin() as conn:
        await conn.exec_driver_sql(f"DELETE FROM feedback_responses WHERE id = {rid}")
    assert await ids(app, account, q="changed") == []


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({"band": ["fans"]}, {"band"}),
        ({"score": ["11"]}, {"score"}),
        ({"score": ["-1"]}, {"score"}),
        (
            {"staff_id": ["ann"], "team_id": ["0"], "site_id": ["1.5"]},
            {"staff_id", "team_id", "site_id"},
        ),
        ({"segment_option_id": ["99999999999999999999"]}, {"segment_option_id"}),
        ({"survey_ids[]": ["1", "x"]}, {"survey_ids"}),
        ({"from_time": ["yesterday"], "to_time": ["2026-13-01"]}, {"from_time", "to_time"}),
        ({"from_time": ["2026-12-02"], "to_time": ["2026-12-01"]}, {"to_time"}),
        ({"has_comment": ["yes"]}, {"has_comment"}),
        ({"q": ["!!! ???"]}, {"q"}),
        ({"q": ["word " * 11]}, {"q"}),
    ],
)
def test_bad_filter_values_are_named_with_a_readable_message(
    query: dict[str, list[str]], fields: set[str]
) -> None:
    with pytest.raises(BadFilter) as raised:
        service.parse_filter(query)
    assert set(raised.value.problems) == fields
    assert all(message.endswith(".") for message in raised.value.problems.values())


def test_empty_filter_values_are_no_filter() -> None:
    empty = {name: [""] for name in service.FILTER_PARAMS}
    assert service.parse_filter(empty) == InboxFilter()
    assert service.parse_filter({}) == InboxFilter()


@pytest.mark.parametrize(
    "raw", ["x", "2026-1", "20261302000000000000-5", "20261102120000000000-", "1-1"]
)
def test_a_broken_cursor_is_a_bad_filter(raw: str) -> None:
    with pytest.raises(BadFilter) as raised:
        service.parse_cursor(raw)
    assert set(raised.value.problems) == {"after"}


async def test_the_response_page_has_every_answer_the_customer_and_the_request(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    rid = await full_response(app, account)
    async with session(app) as s:
        found = await service.detail(s, account.id, rid)
        assert await service.detail(s, other_account.id, rid) is None
        assert await service.detail(s, account.id, rid + 10_000) is None
    assert found is not None
    assert [(a.question, a.type, a.answer, a.band) for a in found.answers] == [
        ("How likely are you to recommend us?", "Rating", "6", "detractor"),
        ("Anything else?", "Text", "Line one\nline two", None),
        ("Was your issue solved?", "Radio", "No", None),
    ]
    r = found.response
    assert (r.name, r.email, r.telephone_number, r.reference, r.machine_id) == (
        "Kate Bush",
        "kate@example.com",
        "0123 456",
        "T-42",
        "m-42",
    )
    a = found.attribution
    assert (a.survey_name, a.staff_name, a.staff_code, a.team_name, a.site_name, a.site_code) == (
        "Support satisfaction",
        "Ann",
        "ann",
        "North",
        "Site LDN",
        "LDN",
    )
    assert found.request is not None
    assert found.request.reference == "T-42"
    assert found.segments == [("plan", "gold")]


async def test_the_filter_form_offers_the_accounts_own_choices(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    org = await make_org(app, account)
    await make_org(app, other_account)
    async with session(app) as s:
        choices = await service.filter_choices(s, account.id)
    assert [(c.id, c.label) for c in choices.surveys] == [
        (account.survey_id, "Support satisfaction")
    ]
    assert [(c.label, c.group) for c in choices.staff] == [("Ann", "ann"), ("Bob", "bob")]
    assert [c.id for c in choices.teams] == [org.teams["North"], org.teams["South"]]
    assert [(c.label, c.group) for c in choices.sites] == [("Site LDN", "LDN"), ("Site MAN", "MAN")]
    assert [(c.group, c.label) for c in choices.segment_options] == [
        ("plan", "free"),
        ("plan", "gold"),
    ]


async def export(
    app: FastAPI, account: Account, filters: InboxFilter, batch: int = 1000
) -> list[list[str]]:
    rows: list[list[str]] = []
    async for chunk in service.export(lambda: session(app), account.id, filters, batch):
        rows.extend(chunk)
    return rows


async def test_the_export_has_a_column_per_question_and_every_row_once(
    app: FastAPI, account: Account
) -> None:
    made = [
        await add_response(
            app, account, T0 + (n // 2) * SECOND, rating=n % 11, comment=f"comment {n}"
        )
        for n in range(23)
    ]
    hostile = await add_response(
        app,
        account,
        T0 + 60 * SECOND,
        rating=0,
        comment='=HYPERLINK("http://evil.example","x")',
        name="@SUM(A1)",
        email="kate@example.com",
        reference="-1+1",
        machine_id="+m",
    )
    rows = await export(app, account, InboxFilter(), batch=5)
    header, *body = rows
    assert header == [
        "id",
        "submitted_at",
        "updated_at",
        "survey_id",
        "email",
        "name",
        "telephone_number",
        "reference",
        "machine_id",
        "How likely are you to recommend us?",
        "How satisfied were you?",
        "Anything else?",
        "Was your issue solved?",
    ]
    assert [int(r[0]) for r in body] == [
        hostile,
        *sorted(made, key=lambda i: (made.index(i) // 2, i), reverse=True),
    ]
    first = dict(zip(header, body[0], strict=True))
    assert first == {
        "id": str(hostile),
        "submitted_at": "2026-11-02T12:01:00Z",
        "updated_at": "2026-11-02T12:01:00Z",
        "survey_id": str(account.survey_id),
        "email": "kate@example.com",
        "name": "'@SUM(A1)",
        "telephone_number": "",
        "reference": "'-1+1",
        "machine_id": "'+m",
        "How likely are you to recommend us?": "0",
        "How satisfied were you?": "",
        "Anything else?": '\'=HYPERLINK("http://evil.example","x")',
        "Was your issue solved?": "",
    }
    only = await export(
        app, account, service.parse_filter({"q": ["comment"], "score": ["3"]}), batch=1
    )
    assert [int(r[0]) for r in only[1:]] == sorted((made[3], made[14]), reverse=True)


async def test_the_export_of_several_surveys_names_a_repeated_question_by_its_id(
    app: FastAPI, account: Account
) -> None:
    async with app.state.engine.begin() as conn:
        other = await importer.import_survey(conn, account.id, {**SURVEY, "name": "Again"})
    rid = await add_response(
        app,
        account,
        T0,
        answers={int(other["questions"][2]["id"]): "second survey"},
        survey_id=int(other["id"]),
    )
    header, row = await export(app, account, InboxFilter())
    repeated = f"Anything else? (question {other['questions'][2]['id']})"
    assert header.count("Anything else?") == 1
    assert row[header.index(repeated)] == "second survey"
    assert row[0] == str(rid)
    header, row = await export(app, account, InboxFilter(survey_ids=(int(other["id"]),)))
    assert header[9:] == [q["text"] for q in other["questions"]]
