"""The dashboards' figures (metrics.service.dashboard) against GET /nps and GET /response_rate,
on both engines, with answers and sends one second inside and outside each window edge."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
from fastapi import FastAPI

from opensure.api.errors import ValidationFailed
from opensure.metrics import definitions, service
from opensure.metrics.service import Dashboard, Nps, Rate, Row
from opensure.surveys import importer
from tests.conftest import Account
from tests.metrics.dashboard_data import DataSet, build
from tests.metrics.data import END, START, iso

UTC = dt.UTC

WINDOWS = [
    (START, END),  # whole days: the PostgreSQL rollups
    (START + dt.timedelta(hours=6, minutes=1), END - dt.timedelta(hours=3)),  # partial edge days
    (START + dt.timedelta(days=6, hours=12), START + dt.timedelta(days=7)),  # inside two days
    (
        START + dt.timedelta(days=2, hours=23, minutes=59),
        START + dt.timedelta(days=2, hours=23, minutes=59),
    ),
]


def filters(start: dt.datetime, end: dt.datetime, surveys: list[int] | None) -> dict[str, Any]:
    ids = [str(s) for s in surveys] if surveys else None
    return {"from_time": iso(start), "to_time": iso(end), "survey_ids": ids}


async def dashboard(app: FastAPI, account: Account, **params: Any) -> Dashboard:
    async with app.state.engine.connect() as conn:
        return await service.dashboard(
            conn=conn,
            account_id=account.id,
            raw_from=params.get("from_time"),
            raw_to=params.get("to_time"),
            raw_survey_ids=params.get("survey_ids"),
            raw_grain=params.get("grain"),
            raw_sorts=params.get("sorts"),
        )


async def api_figures(
    account: Account, data: DataSet, start: dt.datetime, end: dt.datetime, surveys: list[int] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    window = {"from_time": iso(start), "to_time": iso(end)}
    nps_params: dict[str, Any] = dict(window)
    rate_params: dict[str, Any] = dict(window)
    if surveys:
        nps_params["question_ids[]"] = [data.nps_questions[s] for s in surveys]
        rate_params["survey_ids[]"] = surveys
    nps = await account.get("/nps", params=nps_params)
    rate = await account.get("/response_rate", params=rate_params)
    assert nps.status_code == rate.status_code == 200, (nps.text, rate.text)
    return nps.json(), rate.json()


def as_api(d: Dashboard) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        {
            "net_promoter_score": d.nps.score,
            "promoter_count": d.nps.promoters,
            "passive_count": d.nps.passives,
            "detractor_count": d.nps.detractors,
        },
        {
            "response_rate_percent": d.rate.percent,
            "sent_count": d.rate.sent,
            "delivered_count": d.rate.delivered,
            "reply_count": d.rate.replied,
        },
    )


def expected_nps(data: DataSet, start: dt.datetime, end: dt.datetime, surveys: list[int]) -> Nps:
    bands = Counter(
        definitions.band(rating)
        for when, survey, *_, rating in data.responses
        if start <= when <= end and survey in surveys and rating is not None
    )
    return Nps(bands["promoter"], bands["passive"], bands["detractor"])


async def test_totals_equal_the_api_on_every_window_and_survey_filter(
    app: FastAPI, account: Account
) -> None:
    data = await build(app, account)
    for start, end in WINDOWS:
        for surveys in (None, data.surveys, data.surveys[:1], data.surveys[1:]):
            d = await dashboard(app, account, **filters(start, end, surveys), grain="day")
            expected = await api_figures(account, data, start, end, surveys)
            assert as_api(d) == expected, (start, end, surveys)
            # And what the data set says, so that both cannot be wrong together.
            high = end + dt.timedelta(seconds=1) - dt.timedelta(microseconds=1)
            assert d.nps == expected_nps(data, start, high, surveys or data.surveys)
    # The March window takes in the edge seconds and nothing beyond them.
    d = await dashboard(app, account, from_time=iso(START), to_time=iso(END))
    sent_in_march = [r for r in data.requests if START <= r[0] <= END]
    assert d.rate.sent == len(sent_in_march)
    assert d.rate.delivered == sum(1 for r in sent_in_march if r[6])
    assert d.rate.replied == sum(1 for r in sent_in_march if r[7])
    assert d.rate.sent < len(data.requests)


async def test_a_bare_date_as_to_time_takes_in_that_whole_day(
    app: FastAPI, account: Account
) -> None:
    data = await build(app, account)
    d = await dashboard(app, account, from_time="2021-03-01", to_time="2021-03-31")
    assert as_api(d) == await api_figures(account, data, START, END, None)
    assert d.start == START
    assert d.end == END + dt.timedelta(seconds=1) - dt.timedelta(microseconds=1)


@pytest.mark.parametrize("grain", ["day", "week", "month"])
async def test_trend_buckets_sum_to_the_totals(app: FastAPI, account: Account, grain: str) -> None:
    await build(app, account)
    for start, end in WINDOWS[:2]:
        d = await dashboard(app, account, from_time=iso(start), to_time=iso(end), grain=grain)
        assert sum((b.nps for b in d.trend), Nps()) == d.nps
        assert sum((b.rate for b in d.trend), Rate()) == d.rate
        starts = [b.start for b in d.trend]
        assert starts == sorted(set(starts))
        assert starts[0] <= start.date() and starts[-1] <= end.date()
        if grain == "day":
            assert len(starts) == (end.date() - start.date()).days + 1
        if grain == "week":
            assert all(day.weekday() == 0 for day in starts)
            assert starts[0] == dt.date(2021, 3, 1)  # a Monday
            assert len(starts) == 5
        if grain == "month":
            assert starts == [dt.date(2021, 3, 1)]


async def test_trend_puts_each_answer_on_its_utc_day(app: FastAPI, account: Account) -> None:
    data = await build(app, account)
    d = await dashboard(app, account, from_time=iso(START), to_time=iso(END), grain="day")
    for bucket in d.trend:
        low = dt.datetime.combine(bucket.start, dt.time(0), UTC)
        high = low + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
        assert bucket.nps == expected_nps(data, low, high, data.surveys), bucket.start


async def test_distribution_counts_every_rating_and_adds_up_to_the_bands(
    app: FastAPI, account: Account
) -> None:
    data = await build(app, account)
    d = await dashboard(app, account, from_time=iso(START), to_time=iso(END))
    assert [rating for rating, _ in d.distribution] == list(range(11))
    expected = Counter(
        rating for when, *_, rating in data.responses if START <= when <= END and rating is not None
    )
    assert dict(d.distribution) == {r: expected[r] for r in range(11)}
    by_band = Counter()
    for rating, count in d.distribution:
        by_band[definitions.band(rating)] += count
    assert Nps(by_band["promoter"], by_band["passive"], by_band["detractor"]) == d.nps


def totals(rows: list[Row]) -> tuple[int, Nps, Rate]:
    return (
        sum(r.responses for r in rows),
        sum((r.nps for r in rows), Nps()),
        sum((r.rate for r in rows), Rate()),
    )


async def test_breakdown_rows_add_up_to_the_totals(app: FastAPI, account: Account) -> None:
    data = await build(app, account)
    for start, end in WINDOWS[:2]:
        for surveys in (None, data.surveys[1:]):
            d = await dashboard(app, account, **filters(start, end, surveys))
            high = end + dt.timedelta(seconds=1) - dt.timedelta(microseconds=1)
            responses = sum(
                1
                for r in data.responses
                if start <= r[0] <= high and r[1] in (surveys or data.surveys)
            )
            by_key = {b.key: b for b in d.breakdowns if b.key != "segment"}
            assert set(by_key) == {"staff", "team", "site"}
            for breakdown in by_key.values():
                assert totals(breakdown.rows) == (responses, d.nps, d.rate), breakdown.key
                ids = [r.id for r in breakdown.rows]
                assert len(ids) == len(set(ids))


async def test_breakdowns_match_the_data_set(app: FastAPI, account: Account) -> None:
    data = await build(app, account)
    d = await dashboard(app, account, from_time=iso(START), to_time=iso(END))
    tables = {b.title: {r.id: r for r in b.rows} for b in d.breakdowns}
    assert set(tables) == {"Staff member", "Team", "Site", "Segment: channel"}
    march = [r for r in data.responses if START <= r[0] <= END]
    sent = [r for r in data.requests if START <= r[0] <= END]
    for title, column in (("Staff member", 2), ("Team", 3), ("Site", 4), ("Segment: channel", 5)):
        for key, row in tables[title].items():
            answers = [r for r in march if r[column] == key]
            assert row.responses == len(answers), (title, key)
            bands = Counter(definitions.band(r[6]) for r in answers if r[6] is not None)
            assert row.nps == Nps(bands["promoter"], bands["passive"], bands["detractor"])
            requests = [r for r in sent if r[column] == key]
            assert row.rate == Rate(
                len(requests), sum(1 for r in requests if r[6]), sum(1 for r in requests if r[7])
            )
    # Every option used, no "no value" line for a segment; names as stored, not escaped here.
    assert {r.name for r in tables["Segment: channel"].values()} == {"web", "phone"}
    staff = tables["Staff member"]
    assert {r.name for r in staff.values()} == {"Ann <b>Admin</b>", "Bob", "Cy", "No staff member"}
    assert {r.code for r in staff.values()} == {"ann", "bob", "cy", None}


def is_sorted(values: list[Any], descending: bool) -> bool:
    return values == sorted(values, reverse=descending)


async def test_rows_sort_by_every_column_both_ways(app: FastAPI, account: Account) -> None:
    await build(app, account)
    for key in service.SORT_KEYS:
        for sort in (key, f"-{key}"):
            d = await dashboard(
                app,
                account,
                from_time=iso(START),
                to_time=iso(END),
                sorts={"staff": sort, "team": sort, "site": sort, "segment": sort},
            )
            for b in d.breakdowns:
                assert b.sort == sort
                values = {
                    "name": lambda r: r.name.casefold(),
                    "responses": lambda r: r.responses,
                    "nps": lambda r: r.nps.score,
                    "rate": lambda r: r.rate.percent if r.rate.delivered else None,
                    "sent": lambda r: r.rate.sent,
                }[key]
                seen = [values(r) for r in b.rows]
                present = [v for v in seen if v is not None]
                # Rows without a value come last whichever the direction.
                assert seen[: len(present)] == present
                assert is_sorted(present, sort.startswith("-")), (b.title, sort, seen)


def test_sort_puts_rows_without_answers_last_and_breaks_ties_by_name() -> None:
    def row(name: str, promoters: int, detractors: int) -> Row:
        return Row(None, name, None, promoters + detractors, Nps(promoters, 0, detractors), Rate())

    rows = [row("b", 1, 0), row("a", 0, 0), row("C", 0, 1), row("d", 1, 0)]
    assert [r.name for r in service.sort_rows(rows, "-nps")] == ["b", "d", "C", "a"]
    assert [r.name for r in service.sort_rows(rows, "nps")] == ["C", "b", "d", "a"]
    assert [r.name for r in service.sort_rows(rows, "name")] == ["a", "b", "C", "d"]
    assert [r.name for r in service.sort_rows(rows, "-name")] == ["d", "C", "b", "a"]
    assert [r.name for r in service.sort_rows(rows, "rate")] == ["a", "b", "C", "d"]


async def test_default_window_is_the_last_30_days_as_for_nps(
    app: FastAPI, account: Account
) -> None:
    d = await dashboard(app, account)
    today = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert d.start == today - dt.timedelta(days=30)
    assert dt.datetime.now(UTC) - d.end < dt.timedelta(seconds=5)
    assert d.grain == "week"
    assert d.nps == Nps() and d.rate == Rate() and d.nps.score is None and d.rate.percent == 0
    assert sum(count for _, count in d.distribution) == 0


async def test_surveys_without_an_nps_question_have_no_nps(app: FastAPI, account: Account) -> None:
    await build(app, account)
    async with app.state.engine.begin() as conn:
        plain = await importer.import_survey(
            conn, account.id, {"name": "Plain", "questions": [{"type": "text", "text": "Why?"}]}
        )
    d = await dashboard(
        app, account, from_time=iso(START), to_time=iso(END), survey_ids=[str(plain["id"])]
    )
    assert d.nps == Nps() and d.rate == Rate()
    assert all(not b.rows for b in d.breakdowns)


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"from_time": "yesterday"}, ["from_time"]),
        ({"to_time": "2021-02-30"}, ["to_time"]),
        ({"from_time": "2021-04-01", "to_time": "2021-03-01"}, ["from_time"]),
        ({"survey_ids": ["x"]}, ["survey_ids"]),
        ({"survey_ids": ["999999999"]}, ["survey_ids"]),
        ({"grain": "year"}, ["grain"]),
        ({"from_time": "2000-01-01", "to_time": "2021-01-01", "grain": "day"}, ["grain"]),
        ({"sorts": {"staff": "-email", "site": "nps"}}, ["sort_staff"]),
    ],
)
async def test_bad_input_is_a_validation_error_naming_the_field(
    app: FastAPI, account: Account, params: dict[str, Any], fields: list[str]
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await dashboard(app, account, **params)
    assert [e["field"] for e in caught.value.body()["errors"]] == fields


async def test_another_accounts_data_is_not_counted(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    data = await build(app, other_account)
    d = await dashboard(app, account, from_time=iso(START), to_time=iso(END))
    assert d.nps == Nps() and d.rate == Rate()
    assert all(not b.rows for b in d.breakdowns)
    with pytest.raises(ValidationFailed):
        await dashboard(app, account, survey_ids=[str(data.surveys[0])])
