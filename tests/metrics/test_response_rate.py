"""GET /response_rate (seed "Metrics", SPEC §4) over known data sets."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI

from tests.conftest import Account
from tests.metrics.data import (
    END,
    INSIDE,
    RATE_KEYS,
    SECOND,
    START,
    Req,
    add_requests,
    add_response,
    add_survey,
    assert_rate,
    error_fields,
    iso,
    nps_question,
    today_midnight,
    window,
)

AFTER = END + dt.timedelta(days=3)


async def test_body_has_exactly_the_seed_keys(account: Account) -> None:
    r = await account.get("/response_rate", params=window())
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert set(r.json()) == RATE_KEYS
    assert all(type(v) is int for v in r.json().values())
    r = await account.get("/response_rate")
    assert r.status_code == 200
    assert set(r.json()) == RATE_KEYS


async def test_nothing_sent_is_all_zero(account: Account) -> None:
    assert_rate(await account.get("/response_rate", params=window()), 0, 0, 0, 0)
    assert_rate(await account.get("/response_rate"), 0, 0, 0, 0)


async def test_sent_delivered_and_replied_are_counted_apart(app: FastAPI, account: Account) -> None:
    await add_requests(
        app,
        account,
        [
            # 8 delivered, one of them replied to: 1 / 8 = 12.5% → 13.
            Req(INSIDE, replied_at=INSIDE + dt.timedelta(hours=1)),
            *[Req(INSIDE + dt.timedelta(hours=i)) for i in range(7)],
            # 2 sent but bounced; a reply to a bounced request does not count.
            Req(INSIDE, failure="550 mailbox unavailable"),
            Req(INSIDE, failure="hard bounce", replied_at=INSIDE + dt.timedelta(hours=2)),
            # Not sent at all, whatever their times say.
            Req(None, state="pending"),
            Req(INSIDE, state="pending"),
            Req(INSIDE, state="not_sent"),
            Req(INSIDE, state="not_sent", replied_at=INSIDE),
        ],
    )
    assert_rate(await account.get("/response_rate", params=window()), 13, 10, 8, 1)


async def test_window_is_inclusive_at_both_ends(app: FastAPI, account: Account) -> None:
    await add_requests(
        app,
        account,
        [
            Req(START - SECOND, replied_at=INSIDE),
            Req(START, replied_at=START + SECOND),
            Req(END),
            Req(END + SECOND, replied_at=END + SECOND),
        ],
    )
    assert_rate(await account.get("/response_rate", params=window()), 50, 2, 2, 1)
    # Moving either edge by one second drops the request sitting on it.
    r = await account.get("/response_rate", params=window(START + SECOND, END))
    assert_rate(r, 0, 1, 1, 0)
    r = await account.get("/response_rate", params=window(START, END - SECOND))
    assert_rate(r, 100, 1, 1, 1)
    r = await account.get("/response_rate", params=window(START - SECOND, END + SECOND))
    assert_rate(r, 75, 4, 4, 3)
    # A window of one instant.
    r = await account.get("/response_rate", params=window(START, START))
    assert_rate(r, 100, 1, 1, 1)


async def test_edges_are_whole_seconds(app: FastAPI, account: Account) -> None:
    """Times are shown in whole seconds: a request sent at 23:59:59.6 is shown as sent at
    23:59:59Z, so it is within to_time=23:59:59Z; one sent at 23:59:59.6 the day before the
    window starts is shown at 23:59:59Z, before from_time."""
    half = dt.timedelta(milliseconds=600)
    await add_requests(
        app,
        account,
        [Req(START - half), Req(START + half), Req(END + half), Req(END + SECOND + half)],
    )
    assert_rate(await account.get("/response_rate", params=window()), 0, 2, 2, 0)
    assert_rate(await account.get("/response_rate", params=window(END, END)), 0, 1, 1, 0)


async def test_times_in_other_offsets_and_forms(app: FastAPI, account: Account) -> None:
    await add_requests(app, account, [Req(START), Req(END)])
    r = await account.get(
        "/response_rate",
        params={"from_time": "2021-03-01T01:00:00+01:00", "to_time": "2021-03-31T23:59:59Z"},
    )
    assert_rate(r, 0, 2, 2, 0)
    r = await account.get(
        "/response_rate",
        params={"from_time": "2021-03-01T01:00:01+01:00", "to_time": "2021-03-31T18:59:59-0500"},
    )
    assert_rate(r, 0, 1, 1, 0)
    # A bare date is midnight UTC; minutes without seconds, as in the seed's example.
    r = await account.get(
        "/response_rate", params={"from_time": "2021-03-01", "to_time": "2021-03-31T23:59Z"}
    )
    assert_rate(r, 0, 1, 1, 0)


async def test_replies_count_by_the_request_not_by_the_response_time(
    app: FastAPI, account: Account
) -> None:
    await add_requests(
        app,
        account,
        [
            # Sent before the window, replied inside it: neither sent nor replied here.
            Req(START - dt.timedelta(days=2), replied_at=INSIDE),
            Req(START - SECOND, replied_at=START),
            # Sent inside, replied after the window closed: a reply of this window.
            Req(END - dt.timedelta(hours=1), replied_at=AFTER),
            Req(INSIDE),
            Req(INSIDE),
            # Sent after the window, replied after it.
            Req(AFTER, replied_at=AFTER),
        ],
    )
    assert_rate(await account.get("/response_rate", params=window()), 33, 3, 3, 1)


async def test_responses_without_a_request_do_not_count(app: FastAPI, account: Account) -> None:
    await add_requests(app, account, [Req(INSIDE), Req(INSIDE)])
    await add_response(app, account, INSIDE, {nps_question(account): 10})
    assert_rate(await account.get("/response_rate", params=window()), 0, 2, 2, 0)


# (replies, delivered) → percent
ROUNDING = [
    ((1, 8), 13),  # 12.5 → 13, not banker's 12
    ((3, 8), 38),  # 37.5 → 38
    ((5, 8), 63),  # 62.5 → 63
    ((1, 3), 33),
    ((2, 3), 67),
    ((1, 200), 1),  # 0.5 → 1
    ((0, 4), 0),
    ((4, 4), 100),
]


async def test_percent_is_rounded_half_away_from_zero(app: FastAPI, account: Account) -> None:
    """Each case on its own day of March 2021, each day queried alone."""
    items = []
    for day, ((replies, delivered), _) in enumerate(ROUNDING):
        sent_at = START + dt.timedelta(days=day, hours=6)
        items += [
            Req(sent_at, replied_at=sent_at if i < replies else None) for i in range(delivered)
        ]
    await add_requests(app, account, items)
    for day, ((replies, delivered), percent) in enumerate(ROUNDING):
        low = START + dt.timedelta(days=day)
        r = await account.get("/response_rate", params=window(low, low + dt.timedelta(hours=23)))
        assert_rate(r, percent, delivered, delivered, replies)


async def test_percent_is_zero_when_nothing_was_delivered(app: FastAPI, account: Account) -> None:
    await add_requests(
        app,
        account,
        [Req(INSIDE, failure="bounce", replied_at=INSIDE), Req(INSIDE, failure="bounce")],
    )
    assert_rate(await account.get("/response_rate", params=window()), 0, 2, 0, 0)


async def test_survey_ids_filter(app: FastAPI, account: Account) -> None:
    second = await add_survey(app, account)
    first_id, second_id = account.survey_id, int(second["id"])
    await add_requests(
        app,
        account,
        [
            Req(INSIDE, replied_at=INSIDE),
            Req(INSIDE),
            Req(INSIDE, failure="bounce"),
            Req(INSIDE, survey_id=second_id, replied_at=INSIDE),
            Req(INSIDE, survey_id=second_id, replied_at=INSIDE),
            Req(INSIDE, survey_id=second_id, replied_at=INSIDE),
            Req(INSIDE, survey_id=second_id),
        ],
    )
    assert_rate(await account.get("/response_rate", params=window()), 67, 7, 6, 4)
    r = await account.get("/response_rate", params={**window(), "survey_ids[]": [first_id]})
    assert_rate(r, 50, 3, 2, 1)
    r = await account.get("/response_rate", params={**window(), "survey_ids[]": [second_id]})
    assert_rate(r, 75, 4, 4, 3)
    r = await account.get(
        "/response_rate", params={**window(), "survey_ids[]": [first_id, second_id]}
    )
    assert_rate(r, 67, 7, 6, 4)
    # The other spellings of an array parameter (SPEC §3).
    r = await account.get("/response_rate", params={**window(), "survey_ids": f"{second_id}"})
    assert_rate(r, 75, 4, 4, 3)
    r = await account.get(
        "/response_rate", params={**window(), "survey_ids": f"{first_id},{second_id}"}
    )
    assert_rate(r, 67, 7, 6, 4)
    # With the default window, none of this March 2021 data counts.
    r = await account.get("/response_rate", params={"survey_ids[]": [second_id]})
    assert_rate(r, 0, 0, 0, 0)


async def test_other_accounts_are_never_counted(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    await add_requests(app, account, [Req(INSIDE), Req(INSIDE, replied_at=INSIDE)])
    await add_requests(
        app,
        other_account,
        [Req(INSIDE, replied_at=INSIDE) for _ in range(5)] + [Req(INSIDE, failure="x")],
    )
    assert_rate(await account.get("/response_rate", params=window()), 50, 2, 2, 1)
    assert_rate(await other_account.get("/response_rate", params=window()), 100, 6, 5, 5)
    # Asking for the other account's survey does not reveal its figures.
    r = await account.get(
        "/response_rate", params={**window(), "survey_ids[]": [other_account.survey_id]}
    )
    assert error_fields(r) == [("survey_ids", "invalid_value")]


async def test_default_window_is_midnight_32_days_ago_to_midnight_2_days_ago(
    app: FastAPI, account: Account
) -> None:
    today = await today_midnight()
    now = dt.datetime.now(dt.UTC)
    start, end = today - dt.timedelta(days=32), today - dt.timedelta(days=2)
    await add_requests(
        app,
        account,
        [
            # Counted: both edges and the days between.
            Req(start, replied_at=start + dt.timedelta(hours=1)),
            Req(end),
            Req(now - dt.timedelta(days=10), replied_at=now - dt.timedelta(days=9)),
            Req(today - dt.timedelta(days=3), failure="bounce"),
            # Not counted: one second outside, yesterday, today, 33 days ago.
            Req(start - SECOND, replied_at=start),
            Req(end + SECOND, replied_at=end + SECOND),
            Req(now - dt.timedelta(days=1), replied_at=now),
            Req(today),
            Req(today - dt.timedelta(days=33), replied_at=today - dt.timedelta(days=20)),
        ],
    )
    assert_rate(await account.get("/response_rate"), 67, 4, 3, 2)
    # Each default applies alone when only the other end is given.
    r = await account.get("/response_rate", params={"from_time": iso(start + SECOND)})
    assert_rate(r, 50, 3, 2, 1)
    r = await account.get("/response_rate", params={"to_time": iso(end - SECOND)})
    assert_rate(r, 100, 3, 2, 2)
    # from_time after the default to_time (midnight 2 days ago) is an empty, invalid window.
    r = await account.get("/response_rate", params={"from_time": iso(end + SECOND)})
    assert error_fields(r) == [("from_time", "invalid_date")]


async def test_from_time_after_to_time_is_invalid_date(account: Account) -> None:
    r = await account.get("/response_rate", params=window(END, START))
    assert error_fields(r) == [("from_time", "invalid_date")]
    r = await account.get("/response_rate", params=window(START + SECOND, START))
    assert error_fields(r) == [("from_time", "invalid_date")]


BAD_TIMES = ["yesterday", "2021-13-01", "2021-02-30T00:00Z", "2021-03-01T25:00Z", "1614556800"]


async def test_bad_times_are_invalid_date(account: Account) -> None:
    for bad in [*BAD_TIMES, "03/01/21"]:
        r = await account.get("/response_rate", params={"from_time": bad, "to_time": iso(END)})
        assert error_fields(r) == [("from_time", "invalid_date")], bad
        r = await account.get("/response_rate", params={"from_time": iso(START), "to_time": bad})
        assert error_fields(r) == [("to_time", "invalid_date")], bad
        r = await account.get("/response_rate", params={"from_time": bad, "to_time": bad})
        assert error_fields(r) == [("from_time", "invalid_date"), ("to_time", "invalid_date")]


async def test_non_integer_survey_ids_are_invalid_value(account: Account) -> None:
    for bad in ["abc", "1.5", "-3", "0", "1e3"]:
        r = await account.get("/response_rate", params={"survey_ids[]": [account.survey_id, bad]})
        assert error_fields(r) == [("survey_ids", "invalid_value")], bad


async def test_unknown_survey_id_is_invalid_value(account: Account) -> None:
    r = await account.get("/response_rate", params={"survey_ids[]": [999_999_999]})
    assert error_fields(r) == [("survey_ids", "invalid_value")]


async def test_unknown_parameter_is_403(account: Account) -> None:
    r = await account.get("/response_rate", params={"question_ids[]": [1]})
    assert r.status_code == 403
    assert "question_ids" in r.json()["message"]
