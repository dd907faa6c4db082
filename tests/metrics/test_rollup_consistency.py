"""PostgreSQL keeps per-day and per-state counters by trigger (migrations 0003, 0005, 0006).
Whatever one UPDATE statement does to many requests at once — as the dispatcher's recording
does — the counters must equal what a recount of the base tables gives. (On SQLite, which
counts the base tables directly, the same steps check the list totals clients see.)"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text, update

from tests.conftest import Account
from tests.metrics.data import INSIDE, add_survey, requests_t
from tests.metrics.test_lifecycle import execute, new_request, new_response

RECOUNT_STATES = """
    SELECT account_id, survey_id, state, count(*) FROM feedback_requests
    WHERE account_id = :a GROUP BY 1, 2, 3
"""
COUNTERS_STATES = """
    SELECT account_id, survey_id, state, n FROM rollup_request_counts
    WHERE account_id = :a AND n <> 0
"""
RECOUNT_RATE = """
    SELECT fr.account_id, fr.survey_id, (fr.sent_at AT TIME ZONE 'UTC')::date, count(*),
           count(*) FILTER (WHERE fr.delivery_failure IS NULL),
           count(*) FILTER (WHERE fr.delivery_failure IS NULL AND EXISTS (
               SELECT 1 FROM feedback_responses r WHERE r.feedback_request_id = fr.id))
    FROM feedback_requests fr
    WHERE fr.account_id = :a AND fr.state = 'sent' AND fr.sent_at IS NOT NULL
    GROUP BY 1, 2, 3
"""
COUNTERS_RATE = """
    SELECT account_id, survey_id, day, sent, delivered, replied FROM rollup_response_rate
    WHERE account_id = :a AND (sent <> 0 OR delivered <> 0 OR replied <> 0)
"""


async def rows(app: FastAPI, sql: str, account_id: int) -> set[tuple[Any, ...]]:
    async with app.state.engine.connect() as conn:
        return {tuple(r) for r in await conn.execute(text(sql), {"a": account_id})}


async def assert_counters_match(app: FastAPI, account: Account) -> None:
    recount = await rows(app, RECOUNT_STATES, account.id)
    # What clients see (PostgreSQL reads it from the counters, SQLite counts the rows).
    for state in ("pending", "sent", "not_sent"):
        r = await account.get("/feedback_requests", params={"state": state, "per_page": 1})
        assert r.status_code == 200, r.text
        expected = sum(n for _, _, s, n in recount if s == state)
        assert r.headers["X-Total-Count"] == str(expected), state
    if app.state.engine.dialect.name == "postgresql":
        assert await rows(app, COUNTERS_STATES, account.id) == recount
        assert await rows(app, COUNTERS_RATE, account.id) == await rows(
            app, RECOUNT_RATE, account.id
        )


async def test_multi_row_updates_keep_the_counters_exact(app: FastAPI, account: Account) -> None:
    other = await add_survey(app, account)
    ids = [await new_request(app, account) for _ in range(12)]
    mine = requests_t.c.account_id == account.id
    for rid in ids[:3]:
        await new_response(app, account, feedback_request_id=rid)
    await assert_counters_match(app, account)

    # The dispatcher's way: many rows sent in one statement, some bounced.
    await execute(
        app,
        update(requests_t).where(requests_t.c.id.in_(ids[:8])).values(state="sent", sent_at=INSIDE),
    )
    await assert_counters_match(app, account)
    await execute(
        app,
        update(requests_t)
        .where(requests_t.c.id.in_(ids[1:5]))
        .values(delivery_failure="550 no such user"),
    )
    await assert_counters_match(app, account)
    # Rows whose counted columns do not change; then one statement changing several at once.
    await execute(app, update(requests_t).where(mine).values(reference="touched"))
    await assert_counters_match(app, account)
    await execute(
        app,
        update(requests_t)
        .where(requests_t.c.id.in_(ids[4:10]))
        .values(
            survey_id=int(other["id"]),
            sent_at=INSIDE + dt.timedelta(days=2),
            state="sent",
            delivery_failure=None,
        ),
    )
    await assert_counters_match(app, account)
    await execute(
        app,
        update(requests_t).where(requests_t.c.id.in_(ids[6:12])).values(state="not_sent"),
    )
    await assert_counters_match(app, account)
    # And through the API: PATCH of a pending one, erasure of a sent one, removal of a pending.
    r = await account.patch(f"/feedback_requests/{ids[11]}", json={"reference": "x"})
    assert r.status_code in (200, 422), r.text
    assert (await account.delete(f"/feedback_requests/{ids[0]}")).status_code == 204
    pending = await new_request(app, account)
    assert (await account.delete(f"/feedback_requests/{pending}")).status_code == 204
    await assert_counters_match(app, account)
