"""The figures follow the data as it changes after it was written, not just as it was inserted.

Requests go pending → sent → bounced; responses arrive, are edited, moved or removed; rows are
changed and deleted by the application and by an operator's SQL. Each step is checked on a
window of whole days (where PostgreSQL reads its per-day counters) and on a window that ends
part-way through the day.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, insert, update

from opensure.metrics import definitions
from tests.conftest import Account
from tests.metrics.data import (
    END,
    INSIDE,
    START,
    add_survey,
    answers_t,
    assert_nps,
    assert_rate,
    nps_question,
    nps_question_of,
    requests_t,
    responses_t,
    window,
)

# A window of whole days and one that ends half-way through INSIDE's day, after INSIDE.
WHOLE = window()
PARTIAL = window(START, INSIDE + dt.timedelta(hours=6))


async def execute(app: FastAPI, *statements: Any) -> Any:
    async with app.state.engine.begin() as conn:
        result = None
        for stmt in statements:
            result = await conn.execute(stmt)
        return result


async def new_request(app: FastAPI, account: Account, **values: Any) -> int:
    now = dt.datetime.now(dt.UTC)
    row = {
        "account_id": account.id,
        "survey_id": account.survey_id,
        "email": "c@example.com",
        "state": "pending",
        "send_at": INSIDE,
        "token": secrets.token_urlsafe(24),
        "created_at": now,
        "updated_at": now,
        **values,
    }
    result = await execute(app, insert(requests_t).values(**row).returning(requests_t.c.id))
    return int(result.scalar_one())


async def new_response(app: FastAPI, account: Account, **values: Any) -> int:
    row = {
        "account_id": account.id,
        "survey_id": account.survey_id,
        "submitted_at": INSIDE,
        "updated_at": INSIDE,
        **values,
    }
    result = await execute(app, insert(responses_t).values(**row).returning(responses_t.c.id))
    return int(result.scalar_one())


async def rate(account: Account, query: dict[str, str]) -> tuple[int, int, int, int]:
    r = await account.get("/response_rate", params=query)
    assert r.status_code == 200, r.text
    b = r.json()
    return b["response_rate_percent"], b["sent_count"], b["delivered_count"], b["reply_count"]


async def check_rate(account: Account, expected: tuple[int, int, int, int]) -> None:
    assert await rate(account, WHOLE) == expected
    assert await rate(account, PARTIAL) == expected


async def check_nps(account: Account, score: int | None, p: int, pa: int, d: int) -> None:
    assert_nps(await account.get("/nps", params=WHOLE), score, p, pa, d)
    assert_nps(await account.get("/nps", params=PARTIAL), score, p, pa, d)


def request_where(request_id: int) -> Any:
    return requests_t.c.id == request_id


async def test_request_through_sending_bouncing_and_replies(app: FastAPI, account: Account) -> None:
    rid = await new_request(app, account)
    await check_rate(account, (0, 0, 0, 0))
    # The dispatcher sends it.
    await execute(
        app, update(requests_t).where(request_where(rid)).values(state="sent", sent_at=INSIDE)
    )
    await check_rate(account, (0, 1, 1, 0))
    # The customer answers.
    response_id = await new_response(app, account, feedback_request_id=rid)
    await check_rate(account, (100, 1, 1, 1))
    # A bounce arrives late: no longer delivered, so its reply does not count.
    await execute(
        app, update(requests_t).where(request_where(rid)).values(delivery_failure="550 gone")
    )
    await check_rate(account, (0, 1, 0, 0))
    await execute(app, update(requests_t).where(request_where(rid)).values(delivery_failure=None))
    await check_rate(account, (100, 1, 1, 1))
    # Re-sent outside the window, then back.
    await execute(
        app, update(requests_t).where(request_where(rid)).values(sent_at=END + dt.timedelta(days=1))
    )
    await check_rate(account, (0, 0, 0, 0))
    await execute(app, update(requests_t).where(request_where(rid)).values(sent_at=INSIDE))
    await check_rate(account, (100, 1, 1, 1))
    # The response is detached from its request, then reattached.
    await execute(
        app,
        update(responses_t).where(responses_t.c.id == response_id).values(feedback_request_id=None),
    )
    await check_rate(account, (0, 1, 1, 0))
    await execute(
        app,
        update(responses_t).where(responses_t.c.id == response_id).values(feedback_request_id=rid),
    )
    await check_rate(account, (100, 1, 1, 1))
    # The response is removed.
    await execute(app, delete(responses_t).where(responses_t.c.id == response_id))
    await check_rate(account, (0, 1, 1, 0))


async def test_request_moved_to_another_survey(app: FastAPI, account: Account) -> None:
    second = await add_survey(app, account)
    rid = await new_request(app, account, state="sent", sent_at=INSIDE)
    await new_response(app, account, feedback_request_id=rid)
    await execute(
        app, update(requests_t).where(request_where(rid)).values(survey_id=int(second["id"]))
    )
    for survey_id, expected in ((account.survey_id, 0), (int(second["id"]), 1)):
        for query in (WHOLE, PARTIAL):
            r = await account.get("/response_rate", params={**query, "survey_ids[]": survey_id})
            assert_rate(r, 100 * expected, expected, expected, expected)


async def test_deleting_a_replied_request_removes_it_from_every_figure(
    app: FastAPI, account: Account
) -> None:
    keep = await new_request(app, account, state="sent", sent_at=INSIDE)
    gone = await new_request(app, account, state="sent", sent_at=INSIDE)
    await new_response(app, account, feedback_request_id=gone)
    await check_rate(account, (50, 2, 2, 1))
    await execute(app, delete(requests_t).where(request_where(gone)))
    await check_rate(account, (0, 1, 1, 0))
    assert keep


async def test_nps_follows_edits_moves_and_removals(app: FastAPI, account: Account) -> None:
    q = nps_question(account)
    rid = await new_response(app, account)
    await execute(
        app,
        insert(answers_t).values(feedback_response_id=rid, question_id=q, value="10", rating=10),
    )
    other = await new_response(app, account)
    await execute(
        app,
        insert(answers_t).values(feedback_response_id=other, question_id=q, value="8", rating=8),
    )
    await check_nps(account, 50, 1, 1, 0)
    # The customer changes their answer.
    await execute(
        app,
        update(answers_t)
        .where(answers_t.c.feedback_response_id == rid)
        .values(value="2", rating=2),
    )
    await check_nps(account, -50, 0, 1, 1)
    # The answer is moved to the next day's submission, then outside the window.
    await execute(
        app,
        update(responses_t)
        .where(responses_t.c.id == rid)
        .values(submitted_at=END + dt.timedelta(days=2)),
    )
    await check_nps(account, 0, 0, 1, 0)
    await execute(
        app, update(responses_t).where(responses_t.c.id == rid).values(submitted_at=INSIDE)
    )
    await check_nps(account, -50, 0, 1, 1)
    # Its answers are replaced as the survey pages do (delete, insert).
    await execute(
        app,
        delete(answers_t).where(answers_t.c.feedback_response_id == rid),
        insert(answers_t).values(feedback_response_id=rid, question_id=q, value="9", rating=9),
    )
    await check_nps(account, 50, 1, 1, 0)


async def test_removing_a_response_removes_its_answers_from_nps(
    app: FastAPI, account: Account
) -> None:
    q = nps_question(account)
    for rating in (10, 8):
        rid = await new_response(app, account)
        await execute(
            app,
            insert(answers_t).values(
                feedback_response_id=rid, question_id=q, value=str(rating), rating=rating
            ),
        )
    await check_nps(account, 50, 1, 1, 0)
    # The response goes (an operator's erasure); its answers go with it (ON DELETE CASCADE).
    await execute(app, delete(responses_t).where(responses_t.c.id == rid))
    await check_nps(account, 100, 1, 0, 0)


async def test_answer_moved_to_another_question(app: FastAPI, account: Account) -> None:
    first_q = nps_question(account)
    second = await add_survey(app, account)
    second_q = nps_question_of(second)
    satisfaction = int(account.survey["questions"][1]["id"])
    rid = await new_response(app, account)
    await execute(
        app,
        insert(answers_t).values(
            feedback_response_id=rid, question_id=first_q, value="10", rating=10
        ),
    )
    await execute(
        app,
        update(answers_t)
        .where(answers_t.c.feedback_response_id == rid)
        .values(question_id=second_q),
    )
    for query in (WHOLE, PARTIAL):
        r = await account.get("/nps", params={**query, "question_ids[]": first_q})
        assert_nps(r, None, 0, 0, 0)
        r = await account.get("/nps", params={**query, "question_ids[]": second_q})
        assert_nps(r, 100, 1, 0, 0)
    await execute(
        app,
        update(answers_t)
        .where(answers_t.c.feedback_response_id == rid)
        .values(question_id=satisfaction, value="5", rating=5),
    )
    await check_nps(account, None, 0, 0, 0)


@pytest.mark.parametrize("days", [0, 1, 5])
async def test_whole_and_partial_days_add_up(app: FastAPI, account: Account, days: int) -> None:
    """Windows that start and end mid-day, on whole days, or within a single day agree with a
    count of the rows themselves."""
    q = nps_question(account)
    moments = [INSIDE + dt.timedelta(hours=h) for h in range(-60, 61, 7)]
    for i, moment in enumerate(moments):
        rid = await new_request(app, account, state="sent", sent_at=moment)
        if i % 2:
            response_id = await new_response(
                app, account, feedback_request_id=rid, submitted_at=moment
            )
            rating = i % 11
            await execute(
                app,
                insert(answers_t).values(
                    feedback_response_id=response_id,
                    question_id=q,
                    value=str(rating),
                    rating=rating,
                ),
            )
    for start_hour in (0, 3):
        low = INSIDE.replace(hour=start_hour) - dt.timedelta(days=days)
        for high in (
            INSIDE.replace(hour=0) + dt.timedelta(days=days + 1) - dt.timedelta(seconds=1),
            INSIDE.replace(hour=0) + dt.timedelta(days=days + 1),
            INSIDE + dt.timedelta(days=days, hours=5),
        ):
            inside = [(i, m) for i, m in enumerate(moments) if low <= m <= high]
            replied = [i for i, _ in inside if i % 2]
            r = await account.get("/response_rate", params=window(low, high))
            sent = len(inside)
            percent = (len(replied) * 200 + sent) // (2 * sent) if sent else 0
            assert_rate(r, percent, sent, sent, len(replied))
            ratings = [i % 11 for i in replied]
            bands = Counter(definitions.band(x) for x in ratings)
            p, pa, d = bands["promoter"], bands["passive"], bands["detractor"]
            r = await account.get("/nps", params=window(low, high))
            assert r.status_code == 200
            assert (
                r.json()["promoter_count"],
                r.json()["passive_count"],
                r.json()["detractor_count"],
            ) == (p, pa, d), (low, high)
