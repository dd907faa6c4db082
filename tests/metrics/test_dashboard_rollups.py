"""The dashboards' per-day counters by staff member, team, site and segment option (migration
0011, kept by triggers on PostgreSQL) stay equal to a recount of the rows through every kind of
change: answers edited, responses moved and removed, requests bounced and removed, options
linked and unlinked, staff removed, many rows updated by one statement. On both engines the
dashboard's breakdowns still add up to GET /nps and GET /response_rate afterwards."""

from __future__ import annotations

import datetime as dt
import importlib
import secrets
from collections import Counter
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import insert, text

from opensure.metrics import service
from opensure.metrics.service import Nps, Rate
from opensure.models import FeedbackRequest, RequestSegmentOption
from tests.conftest import Account
from tests.metrics.dashboard_data import build, insert_id
from tests.metrics.data import END, START, iso

MIGRATION = importlib.import_module("opensure.migrations.versions.20261206_0011_dashboard_rollups")
TABLES = {
    "rollup_nps_by": (MIGRATION.REBUILD_NPS_BY, "n <> 0"),
    "rollup_responses_by": (MIGRATION.REBUILD_RESPONSES_BY, "n <> 0"),
    "rollup_response_rate_by": (
        MIGRATION.REBUILD_RATE_BY,
        "(sent <> 0 OR delivered <> 0 OR replied <> 0)",
    ),
}


async def rows(app: FastAPI, sql: str, account_id: int) -> set[tuple[Any, ...]]:
    async with app.state.engine.connect() as conn:
        return {tuple(r) for r in await conn.execute(text(sql), {"a": account_id})}


async def assert_counters_match(app: FastAPI, account: Account, step: str = "") -> None:
    if app.state.engine.dialect.name == "postgresql":
        for table, (rebuild, nonzero) in TABLES.items():
            recount = rebuild[rebuild.index("SELECT") :]
            recounted = await rows(
                app, f"SELECT * FROM ({recount}) AS recount WHERE account_id = :a", account.id
            )
            kept = await rows(
                app, f"SELECT * FROM {table} WHERE account_id = :a AND {nonzero}", account.id
            )
            assert kept == recounted, (table, step, kept ^ recounted)
            assert kept, table
    # What a user sees: every breakdown adds up to the API's figures.
    window = {
        "from_time": iso(START - dt.timedelta(days=5)),
        "to_time": iso(END + dt.timedelta(days=5)),
    }
    async with app.state.engine.connect() as conn:
        d = await service.dashboard(
            conn=conn,
            account_id=account.id,
            raw_from=window["from_time"],
            raw_to=window["to_time"],
            raw_survey_ids=None,
            raw_grain="week",
        )
    nps = (await account.get("/nps", params=window)).json()
    rate = (await account.get("/response_rate", params=window)).json()
    assert (d.nps.promoters, d.nps.passives, d.nps.detractors) == (
        nps["promoter_count"],
        nps["passive_count"],
        nps["detractor_count"],
    )
    assert (d.rate.sent, d.rate.delivered, d.rate.replied) == (
        rate["sent_count"],
        rate["delivered_count"],
        rate["reply_count"],
    )
    for b in d.breakdowns:
        if b.key != "segment":
            assert sum((r.nps for r in b.rows), Nps()) == d.nps, b.key
            assert sum((r.rate for r in b.rows), Rate()) == d.rate, b.key
    assert sum(n for _, n in d.distribution) == d.nps.total


async def execute(app: FastAPI, sql: str, **params: Any) -> None:
    async with app.state.engine.begin() as conn:
        await conn.execute(text(sql), params)


async def one(app: FastAPI, sql: str, **params: Any) -> Any:
    async with app.state.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def test_counters_follow_every_change(app: FastAPI, account: Account) -> None:
    data = await build(app, account)
    a = account.id
    await assert_counters_match(app, account)
    staff = [s for s, _ in data.names.staff]
    web, phone = data.names.option_ids["web"], data.names.option_ids["phone"]
    replied_request = (
        "SELECT fr.id FROM feedback_requests fr JOIN feedback_responses r "
        "ON r.feedback_request_id = fr.id WHERE fr.account_id = :a AND fr.delivery_failure IS NULL "
        "ORDER BY fr.id LIMIT 1 OFFSET :n"
    )
    steps = [
        # A response's staff member, team and site change.
        (
            "UPDATE feedback_responses SET staff_id = :s, team_id = NULL, site_id = NULL "
            "WHERE id = (SELECT min(id) FROM feedback_responses WHERE account_id = :a)",
            {"s": staff[1]},
        ),
        # An answer's rating changes band; another answer is removed.
        (
            "UPDATE answers SET rating = 10 - rating WHERE feedback_response_id IN "
            "(SELECT id FROM feedback_responses WHERE account_id = :a) AND id % 3 = 0",
            {},
        ),
        (
            "DELETE FROM answers WHERE id = (SELECT max(a.id) FROM answers a JOIN "
            "feedback_responses r ON r.id = a.feedback_response_id WHERE r.account_id = :a)",
            {},
        ),
        # A response moves to another day; another is removed with its answers.
        (
            "UPDATE feedback_responses SET submitted_at = submitted_at + interval '2 days' "
            "WHERE account_id = :a AND id % 4 = 1",
            {},
        ),
        (
            "DELETE FROM feedback_responses WHERE id = (SELECT id FROM feedback_responses "
            "WHERE account_id = :a AND feedback_request_id IS NOT NULL ORDER BY id LIMIT 1)",
            {},
        ),
        # A replied request bounces; another replied request is removed.
        (
            "UPDATE feedback_requests SET delivery_failure = '550 gone' "
            f"WHERE id = ({replied_request})",
            {"n": 0},
        ),
        (f"DELETE FROM feedback_requests WHERE id = ({replied_request})", {"n": 1}),
        # Options unlinked from and linked to replied requests.
        (
            "DELETE FROM request_segment_options WHERE segment_option_id = :o AND "
            "feedback_request_id IN (SELECT feedback_request_id FROM feedback_responses "
            "WHERE account_id = :a AND feedback_request_id IS NOT NULL) AND id % 2 = 0",
            {"o": web},
        ),
        (
            "INSERT INTO request_segment_options (feedback_request_id, segment_option_id) "
            "SELECT fr.id, :o FROM feedback_requests fr WHERE fr.account_id = :a AND "
            "fr.state = 'sent' AND NOT EXISTS (SELECT 1 FROM request_segment_options x "
            "WHERE x.feedback_request_id = fr.id)",
            {"o": phone},
        ),
        # A request's staff member and site change, many at once; a staff member is removed.
        (
            "UPDATE feedback_requests SET site_id = NULL, staff_id = :s "
            "WHERE account_id = :a AND id % 5 = 0",
            {"s": staff[2]},
        ),
        ("DELETE FROM staff WHERE id = :s", {"s": staff[0]}),
        # A request answered by a response moved to it from another request.
        (
            "UPDATE feedback_responses SET feedback_request_id = NULL "
            "WHERE id = (SELECT max(id) FROM feedback_responses WHERE account_id = :a "
            "AND feedback_request_id IS NOT NULL)",
            {},
        ),
        # A request sent later (pending → sent), as the dispatcher records it.
        (
            "UPDATE feedback_requests SET state = 'sent', sent_at = send_at "
            "WHERE account_id = :a AND state = 'pending'",
            {},
        ),
    ]
    for sql, params in steps:
        if app.state.engine.dialect.name != "postgresql":
            sql = sql.replace(
                "submitted_at + interval '2 days'", "datetime(submitted_at, '+2 days')"
            )
        await execute(app, sql, a=a, **params)
        await assert_counters_match(app, account, sql)
    assert await one(app, "SELECT count(*) FROM staff WHERE account_id = :a", a=a) == 2


async def function_calls(conn: Any) -> Counter[str]:
    """Calls of OpenSure's PL/pgSQL functions in this transaction (``track_functions = 'pl'``).
    PostgreSQL's per-transaction view may still hold calls of earlier transactions on the same
    connection that it has not reported yet: compare a count with one taken before."""
    rows = await conn.execute(
        text(
            "SELECT funcname, calls FROM pg_stat_xact_user_functions "
            "WHERE funcname LIKE 'opensure%'"
        )
    )
    return Counter(dict(rows.all()))


# PostgreSQL only: on SQLite the counters are not kept by triggers.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_lease_or_an_uncounted_column_runs_no_counter(
    app: FastAPI, account: Account
) -> None:
    """A dispatcher's claim and release (``lease_owner``, ``lease_until``) and an edit of a
    column no counter reads run none of the counters' PL/pgSQL (migrations 0019, 0020); a
    counted column does. Read from PostgreSQL's own count of function calls in the transaction."""
    await build(app, account)

    async def calls(conn: Any) -> int:
        counted = await function_calls(conn)
        return counted["opensure_request_counted"] + counted["opensure_responses_by"]

    lease = (
        "UPDATE feedback_requests SET lease_owner = 'test', "
        "lease_until = now() + interval '5 minutes' WHERE account_id = :a"
    )
    release = (
        "UPDATE feedback_requests SET lease_owner = NULL, lease_until = NULL WHERE account_id = :a"
    )
    uncounted = [
        lease,
        release,
        "UPDATE feedback_requests SET reference = 'edited' WHERE account_id = :a",
        "UPDATE feedback_responses SET reference = 'edited' WHERE account_id = :a",
    ]
    async with app.state.engine.begin() as conn:
        await conn.execute(text("SET LOCAL track_functions = 'pl'"))
        before = await calls(conn)
        touched = 0
        for sql in uncounted:
            touched += (await conn.execute(text(sql), {"a": account.id})).rowcount
        assert touched > 0
        assert await calls(conn) == before
        await conn.execute(
            text("UPDATE feedback_requests SET site_id = site_id WHERE account_id = :a"),
            {"a": account.id},
        )
        assert await calls(conn) > before
    await assert_counters_match(app, account)


# PostgreSQL only: on SQLite the counters are not kept by triggers.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_send_runs_one_counter_call_and_counts_everything(
    app: FastAPI, account: Account
) -> None:
    """Recording an e-mail as sent (the dispatcher's hot path) runs one PL/pgSQL call for all
    of a request's counters (migration 0020), with a staff member, a site and a segment option
    to count, and leaves every counter equal to a recount."""
    data = await build(app, account)
    now = dt.datetime.now(dt.UTC)
    staff, _team = data.names.staff[0]
    async with app.state.engine.begin() as conn:
        request_id = await insert_id(
            conn,
            FeedbackRequest,
            account_id=account.id,
            survey_id=data.surveys[0],
            email="c@example.com",
            state="pending",
            send_at=now,
            token=secrets.token_urlsafe(24),
            created_at=now,
            updated_at=now,
            staff_id=staff,
            site_id=data.names.site_ids[0],
        )
        await conn.execute(
            insert(RequestSegmentOption.__table__).values(
                feedback_request_id=request_id,
                segment_option_id=next(iter(data.names.option_ids.values())),
            )
        )
    await assert_counters_match(app, account, "pending")
    async with app.state.engine.begin() as conn:
        await conn.execute(text("SET LOCAL track_functions = 'pl'"))
        before = await function_calls(conn)
        sent = await conn.execute(
            text(
                "UPDATE feedback_requests SET state = 'sent', sent_at = now(), updated_at = now()"
                " WHERE id = :id AND state = 'pending'"
            ),
            {"id": request_id},
        )
        assert sent.rowcount == 1
        assert await function_calls(conn) - before == Counter({"opensure_request_counted": 1})
    await assert_counters_match(app, account, "sent")
