"""Responses for the inbox's tests, written straight to the database with chosen submission
times, staff, teams, sites and segment options (the survey page always stamps "now").

The answers go in through the real tables, so migration 0009's search index (the GIN index,
the FTS5 table's triggers) takes them in as it does the survey page's.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from sqlalchemy import insert

from opensure.db.fast import SaSession, Session
from opensure.models import (
    Answer,
    FeedbackRequest,
    FeedbackResponse,
    RequestSegmentOption,
    Segment,
    SegmentOption,
    Site,
    Staff,
    Team,
)
from tests.conftest import Account

T0 = dt.datetime(2026, 11, 2, 12, 0, 0, tzinfo=dt.UTC)


@dataclass
class Org:
    """An account's teams, staff, sites and segment options, by name."""

    teams: dict[str, int]
    staff: dict[str, int]
    sites: dict[str, int]
    options: dict[str, int]


async def _insert(conn: Any, table: Any, **values: Any) -> int:
    return int((await conn.execute(insert(table).values(**values).returning(table.c.id))).scalar())


async def make_org(app: FastAPI, account: Account) -> Org:
    """Teams North and South; Ann (North) and Bob (South); sites LDN and MAN; segment
    ``plan`` with options gold and free."""
    async with app.state.engine.begin() as conn:
        teams = {
            n: await _insert(conn, Team.__table__, account_id=account.id, name=n)
            for n in ("North", "South")
        }
        staff = {
            code: await _insert(
                conn,
                Staff.__table__,
                account_id=account.id,
                code=code,
                name=code.title(),
                team_id=teams[team],
            )
            for code, team in (("ann", "North"), ("bob", "South"))
        }
        sites = {
            code: await _insert(
                conn,
                Site.__table__,
                account_id=account.id,
                site_code=code,
                name=f"Site {code}",
                created_at=T0,
                updated_at=T0,
            )
            for code in ("LDN", "MAN")
        }
        segment = await _insert(conn, Segment.__table__, account_id=account.id, key="plan")
        options = {
            v: await _insert(conn, SegmentOption.__table__, segment_id=segment, value=v)
            for v in ("gold", "free")
        }
    return Org(teams, staff, sites, options)


def question_ids(account: Account) -> list[int]:
    return [int(q["id"]) for q in account.survey["questions"]]


async def add_response(
    app: FastAPI,
    account: Account,
    at: dt.datetime,
    *,
    rating: int | None = None,
    comment: str | None = None,
    answers: dict[int, str] | None = None,
    survey_id: int | None = None,
    staff_id: int | None = None,
    team_id: int | None = None,
    site_id: int | None = None,
    options: Sequence[int] = (),
    **fields: Any,
) -> int:
    """A response submitted at ``at`` to the account's survey (tests.conftest.SURVEY: the
    first question is its NPS rating, the third a Text question), through a sent request
    when it is linked to segment options."""
    ids = question_ids(account)
    given: dict[int, tuple[str, int | None]] = {}
    if rating is not None:
        given[ids[0]] = (str(rating), rating)
    if comment is not None:
        given[ids[2]] = (comment, None)
    for qid, value in (answers or {}).items():
        given[qid] = (value, None)
    async with app.state.engine.begin() as conn:
        request_id = None
        if options:
            request_id = await _insert(
                conn,
                FeedbackRequest.__table__,
                account_id=account.id,
                survey_id=survey_id or account.survey_id,
                state="sent",
                send_at=at,
                sent_at=at,
                created_at=at,
                updated_at=at,
                token=secrets.token_hex(16),
                staff_id=staff_id,
                site_id=site_id,
                reference=fields.get("reference"),
                machine_id=fields.get("machine_id"),
            )
            await conn.execute(
                insert(RequestSegmentOption.__table__),
                [{"feedback_request_id": request_id, "segment_option_id": o} for o in options],
            )
        response_id = await _insert(
            conn,
            FeedbackResponse.__table__,
            account_id=account.id,
            survey_id=survey_id or account.survey_id,
            feedback_request_id=request_id,
            staff_id=staff_id,
            team_id=team_id,
            site_id=site_id,
            submitted_at=at,
            updated_at=at,
            **fields,
        )
        if given:
            await conn.execute(
                insert(Answer.__table__),
                [
                    {"feedback_response_id": response_id, "question_id": q, "value": v, "rating": r}
                    for q, (v, r) in given.items()
                ],
            )
    return response_id


async def full_response(app: FastAPI, account: Account, **fields: str) -> int:
    """A detractor's response with a comment over two lines and a Radio answer, by Ann of
    team North at site LDN, through a request linked to segment option plan=gold, from Kate
    Bush (T-42, m-42) unless ``fields`` say otherwise."""
    org = await make_org(app, account)
    contact = {
        "name": "Kate Bush",
        "email": "kate@example.com",
        "telephone_number": "0123 456",
        "reference": "T-42",
        "machine_id": "m-42",
    }
    return await add_response(
        app,
        account,
        T0,
        rating=6,
        comment="Line one\nline two",
        answers={question_ids(account)[3]: "No"},
        staff_id=org.staff["ann"],
        team_id=org.teams["North"],
        site_id=org.sites["LDN"],
        options=[org.options["gold"]],
        **{**contact, **fields},
    )


@asynccontextmanager
async def session(app: FastAPI) -> AsyncIterator[Session]:
    """A read on the console's path: a SQLAlchemy connection under the fast path's SQL."""
    async with app.state.reader.connect() as conn:
        yield SaSession(conn)
