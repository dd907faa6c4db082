"""GET /nps (seed "Metrics", SPEC §4) over known data sets."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI

from tests.conftest import Account
from tests.metrics.data import (
    END,
    INSIDE,
    NPS_KEYS,
    SECOND,
    START,
    Req,
    add_ratings,
    add_requests,
    add_response,
    add_survey,
    assert_nps,
    error_fields,
    iso,
    nps_question,
    nps_question_of,
    ratings_for,
    today_midnight,
    window,
)


async def test_body_has_exactly_the_seed_keys(app: FastAPI, account: Account) -> None:
    await add_ratings(app, account, nps_question(account), [10])
    r = await account.get("/nps", params=window())
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert set(r.json()) == NPS_KEYS
    assert all(type(v) is int for v in r.json().values())
    r = await account.get("/nps")
    assert r.status_code == 200
    assert set(r.json()) == NPS_KEYS


async def test_no_answers_is_a_null_score(account: Account) -> None:
    assert_nps(await account.get("/nps", params=window()), None, 0, 0, 0)
    assert_nps(await account.get("/nps"), None, 0, 0, 0)


async def test_every_rating_lands_in_its_category(app: FastAPI, account: Account) -> None:
    await add_ratings(app, account, nps_question(account), list(range(11)))
    # 9-10 promoters (2), 7-8 passives (2), 0-6 detractors (7): (2 - 7) / 11 = -45.45 → -45.
    assert_nps(await account.get("/nps", params=window()), -45, 2, 2, 7)


# (promoters, passives, detractors) → score
ROUNDING = [
    ((1, 5, 2), -13),  # -12.5 → -13, not -12
    ((2, 5, 1), 13),  # 12.5 → 13, not 12
    ((3, 1, 4), -13),  # -12.5
    ((1, 199, 0), 1),  # 0.5 → 1
    ((0, 199, 1), -1),  # -0.5 → -1
    ((1, 2, 0), 33),
    ((2, 1, 0), 67),
    ((0, 1, 2), -67),
    ((1, 0, 1), 0),
    ((0, 3, 0), 0),
    ((4, 0, 0), 100),
    ((0, 0, 4), -100),
]


async def test_score_is_rounded_half_away_from_zero(app: FastAPI, account: Account) -> None:
    """Each case on its own day of March 2021, each day queried alone."""
    q = nps_question(account)
    for day, (counts, _) in enumerate(ROUNDING):
        await add_ratings(app, account, q, ratings_for(*counts), START + dt.timedelta(days=day))
    for day, (counts, score) in enumerate(ROUNDING):
        low = START + dt.timedelta(days=day)
        r = await account.get("/nps", params=window(low, low + dt.timedelta(hours=23)))
        assert_nps(r, score, *counts)


async def test_only_nps_answers_count(app: FastAPI, account: Account) -> None:
    nps_q, satisfaction, text, radio = (int(q["id"]) for q in account.survey["questions"])
    await add_response(app, account, INSIDE, {nps_q: 10, satisfaction: 2, text: "5", radio: "No"})
    await add_response(app, account, INSIDE, {nps_q: 3, satisfaction: 5})
    # A rating question on 0-10 that is not flagged NPS does not count either.
    second = await add_survey(app, account)
    clean = next(int(q["id"]) for q in second["questions"] if q["text"] == "How clean was it?")
    await add_response(app, account, INSIDE, {clean: 10}, survey_id=int(second["id"]))
    await add_response(app, account, INSIDE, {clean: 0}, survey_id=int(second["id"]))
    # A skipped NPS question has no rating.
    await add_response(app, account, INSIDE, {nps_q: None, text: "no comment"})
    assert_nps(await account.get("/nps", params=window()), 0, 1, 0, 1)


async def test_window_is_inclusive_by_submission_time(app: FastAPI, account: Account) -> None:
    q = nps_question(account)
    await add_ratings(app, account, q, [0], START - SECOND)
    await add_ratings(app, account, q, [10], START)
    await add_ratings(app, account, q, [8], END)
    await add_ratings(app, account, q, [9, 9], END + SECOND)
    # An answer submitted before the window but edited inside it is not of this window.
    await add_response(app, account, START - SECOND, {q: 1}, updated_at=INSIDE)
    assert_nps(await account.get("/nps", params=window()), 50, 1, 1, 0)
    assert_nps(await account.get("/nps", params=window(START + SECOND, END)), 0, 0, 1, 0)
    assert_nps(await account.get("/nps", params=window(START, END - SECOND)), 100, 1, 0, 0)
    r = await account.get("/nps", params=window(START - SECOND, END + SECOND))
    assert_nps(r, 17, 3, 1, 2)  # (3 - 2) / 6 = 16.7
    assert_nps(await account.get("/nps", params=window(END, END)), 0, 0, 1, 0)
    assert_nps(
        await account.get("/nps", params=window(START + SECOND, END - SECOND)), None, 0, 0, 0
    )


async def test_edges_are_whole_seconds(app: FastAPI, account: Account) -> None:
    """An answer submitted at 23:59:59.6 is shown as submitted at 23:59:59Z: within
    to_time=23:59:59Z."""
    q = nps_question(account)
    half = dt.timedelta(milliseconds=600)
    await add_ratings(app, account, q, [0], START - half)
    await add_ratings(app, account, q, [10], START + half)
    await add_ratings(app, account, q, [9], END + half)
    await add_ratings(app, account, q, [1], END + SECOND + half)
    assert_nps(await account.get("/nps", params=window()), 100, 2, 0, 0)
    assert_nps(await account.get("/nps", params=window(END, END)), 100, 1, 0, 0)


async def test_question_ids_filter(app: FastAPI, account: Account) -> None:
    first_q = nps_question(account)
    second = await add_survey(app, account)
    second_q = nps_question_of(second)
    await add_ratings(app, account, first_q, ratings_for(3, 0, 1))
    await add_ratings(app, account, second_q, ratings_for(0, 2, 2), survey_id=int(second["id"]))
    # By default every NPS question of every survey: (3 - 3) / 8.
    assert_nps(await account.get("/nps", params=window()), 0, 3, 2, 3)
    r = await account.get("/nps", params={**window(), "question_ids[]": [first_q]})
    assert_nps(r, 50, 3, 0, 1)
    r = await account.get("/nps", params={**window(), "question_ids[]": [second_q]})
    assert_nps(r, -50, 0, 2, 2)
    r = await account.get("/nps", params={**window(), "question_ids[]": [first_q, second_q]})
    assert_nps(r, 0, 3, 2, 3)
    r = await account.get("/nps", params={**window(), "question_ids": f"{second_q},{first_q}"})
    assert_nps(r, 0, 3, 2, 3)
    r = await account.get("/nps", params={**window(), "question_ids": str(second_q)})
    assert_nps(r, -50, 0, 2, 2)


async def test_other_accounts_are_never_counted(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    await add_ratings(app, account, nps_question(account), [10, 6])
    await add_ratings(app, other_account, nps_question(other_account), [10, 10, 10, 7])
    assert_nps(await account.get("/nps", params=window()), 0, 1, 0, 1)
    assert_nps(await other_account.get("/nps", params=window()), 75, 3, 1, 0)
    # Naming the other account's NPS question is refused, not answered.
    r = await account.get(
        "/nps", params={**window(), "question_ids[]": [nps_question(other_account)]}
    )
    assert error_fields(r) == [("question_ids", "invalid_value")]


async def test_default_window_is_midnight_30_days_ago_to_now(
    app: FastAPI, account: Account
) -> None:
    q = nps_question(account)
    today = await today_midnight()
    now = dt.datetime.now(dt.UTC)
    start = today - dt.timedelta(days=30)
    # Counted: the start edge, 29 days ago, a minute ago.
    await add_ratings(app, account, q, [10], start)
    await add_ratings(app, account, q, [9], now - dt.timedelta(days=29))
    await add_ratings(app, account, q, [0], now - dt.timedelta(minutes=1))
    # Not counted: a second before the start, 31 days ago, in the future.
    await add_ratings(app, account, q, [3], start - SECOND)
    await add_ratings(app, account, q, [4], now - dt.timedelta(days=31))
    await add_ratings(app, account, q, [5], now + dt.timedelta(hours=1))
    assert_nps(await account.get("/nps"), 33, 2, 0, 1)
    r = await account.get("/nps", params={"from_time": iso(start + SECOND)})
    assert_nps(r, 0, 1, 0, 1)
    r = await account.get("/nps", params={"to_time": iso(now - dt.timedelta(hours=1))})
    assert_nps(r, 100, 2, 0, 0)
    # The default end is now: a from_time in the future is after it.
    r = await account.get("/nps", params={"from_time": iso(now + dt.timedelta(days=1))})
    assert error_fields(r) == [("from_time", "invalid_date")]


async def test_response_rate_data_does_not_leak_into_nps(app: FastAPI, account: Account) -> None:
    await add_requests(app, account, [Req(INSIDE, replied_at=INSIDE)])
    assert_nps(await account.get("/nps", params=window()), None, 0, 0, 0)


async def test_from_time_after_to_time_is_invalid_date(account: Account) -> None:
    r = await account.get("/nps", params=window(END, START))
    assert error_fields(r) == [("from_time", "invalid_date")]


async def test_bad_times_are_invalid_date(account: Account) -> None:
    for bad in ["last month", "2021-02-29", "2021-03-01T12:60Z", "2021-3-1"]:
        r = await account.get("/nps", params={"from_time": bad})
        assert error_fields(r) == [("from_time", "invalid_date")], bad
        r = await account.get("/nps", params={"to_time": bad})
        assert error_fields(r) == [("to_time", "invalid_date")], bad


async def test_question_that_is_not_an_nps_question_is_invalid_value(
    app: FastAPI, account: Account
) -> None:
    await add_ratings(app, account, nps_question(account), [10])
    nps_q, satisfaction, text, _radio = (int(q["id"]) for q in account.survey["questions"])
    for ids in ([satisfaction], [text], [nps_q, satisfaction], [999_999_999]):
        r = await account.get("/nps", params={**window(), "question_ids[]": ids})
        assert error_fields(r) == [("question_ids", "invalid_value")], ids


async def test_non_integer_question_ids_are_invalid_value(account: Account) -> None:
    for bad in ["abc", "1.5", "-1", "0", "x1"]:
        r = await account.get("/nps", params={"question_ids[]": [nps_question(account), bad]})
        assert error_fields(r) == [("question_ids", "invalid_value")], bad


async def test_unknown_parameter_is_403(account: Account) -> None:
    r = await account.get("/nps", params={"survey_ids[]": [account.survey_id]})
    assert r.status_code == 403
    assert "survey_ids" in r.json()["message"]
