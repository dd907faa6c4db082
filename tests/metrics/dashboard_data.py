"""A dashboard's data set: two surveys, staff in teams, sites, a segment, requests and answers on
both sides of each edge of March 2021, written straight to the database (SQLAlchemy Core, so the
PostgreSQL rollup triggers run as they do for the API's writes)."""

from __future__ import annotations

import datetime as dt
import random
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy import insert

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
from tests.metrics.data import END, SECOND, START, add_survey, nps_question, nps_question_of

UTC = dt.UTC

# Moments on both sides of each edge of the window, and inside it (some on partial days).
EDGES = [START - SECOND, START, END, END + SECOND]
INSIDE_MOMENTS = [
    START + dt.timedelta(days=d, hours=h, minutes=m)
    for d, h, m in [
        (0, 6, 1),
        (2, 23, 59),
        (6, 12, 0),
        (7, 0, 0),
        (13, 8, 30),
        (20, 17, 5),
        (30, 1, 0),
    ]
]
BEFORE = [START - dt.timedelta(days=3), START - dt.timedelta(hours=1)]
AFTER = [END + dt.timedelta(hours=2), END + dt.timedelta(days=4)]
MOMENTS = EDGES + INSIDE_MOMENTS + BEFORE + AFTER


@dataclass
class Names:
    team_ids: list[int] = field(default_factory=list)
    staff: list[tuple[int, int | None]] = field(default_factory=list)  # (id, team)
    site_ids: list[int] = field(default_factory=list)
    option_ids: dict[str, int] = field(default_factory=dict)  # channel value → option id


@dataclass
class DataSet:
    surveys: list[int]
    nps_questions: dict[int, int]  # survey → its NPS question
    names: Names
    # Every response written: (submitted_at, survey, staff, team, site, option, rating or None)
    responses: list[
        tuple[dt.datetime, int, int | None, int | None, int | None, int | None, int | None]
    ]
    # Every sent request: (sent_at, survey, staff, team, site, option, delivered, replied)
    requests: list[
        tuple[dt.datetime, int, int | None, int | None, int | None, int | None, bool, bool]
    ]


async def insert_id(conn: Any, model: Any, **values: Any) -> int:
    table = model.__table__
    return int(
        (await conn.execute(insert(table).values(**values).returning(table.c.id))).scalar_one()
    )


async def add_names(app: FastAPI, account: Account, tag: str = "") -> Names:
    names = Names()
    async with app.state.engine.begin() as conn:
        for team in ("Billing", "Support"):
            names.team_ids.append(
                await insert_id(conn, Team, account_id=account.id, name=team + tag)
            )
        for code, name, team in (
            ("ann", "Ann <b>Admin</b>", names.team_ids[0]),
            ("bob", "Bob", names.team_ids[1]),
            ("cy", "Cy", None),
        ):
            staff_id = await insert_id(
                conn, Staff, account_id=account.id, code=code, name=name, team_id=team
            )
            names.staff.append((staff_id, team))
        for code, name in (("LDN", "London"), ("MAN", "Manchester")):
            names.site_ids.append(
                await insert_id(conn, Site, account_id=account.id, site_code=code, name=name)
            )
        segment_id = await insert_id(conn, Segment, account_id=account.id, key="channel")
        for value in ("web", "phone"):
            names.option_ids[value] = await insert_id(
                conn, SegmentOption, segment_id=segment_id, value=value
            )
    return names


async def build(app: FastAPI, account: Account, seed: int = 7) -> DataSet:
    """For each survey and each moment: several requests (bounced, delivered, replied) with
    staff, site and channel drawn at random, and responses without a request."""
    rng = random.Random(seed)
    second = await add_survey(app, account)
    surveys = [account.survey_id, int(second["id"])]
    nps_questions = {surveys[0]: nps_question(account), surveys[1]: nps_question_of(second)}
    names = await add_names(app, account)
    options = [*names.option_ids.values(), None]
    data = DataSet(surveys, nps_questions, names, [], [])
    now = dt.datetime.now(UTC)
    async with app.state.engine.begin() as conn:
        for moment in MOMENTS:
            for survey in surveys:
                for _ in range(3):
                    staff, team = rng.choice([*names.staff, (None, None)])
                    site = rng.choice([*names.site_ids, None])
                    option = rng.choice(options)
                    failure = "550 no such user" if rng.random() < 0.2 else None
                    replied = failure is None and rng.random() < 0.6
                    request_id = await insert_id(
                        conn,
                        FeedbackRequest,
                        account_id=account.id,
                        survey_id=survey,
                        email="c@example.com",
                        state="sent",
                        send_at=moment,
                        sent_at=moment,
                        token=secrets.token_urlsafe(24),
                        created_at=now,
                        updated_at=now,
                        delivery_failure=failure,
                        staff_id=staff,
                        site_id=site,
                    )
                    if option is not None:
                        await conn.execute(
                            insert(RequestSegmentOption.__table__).values(
                                feedback_request_id=request_id, segment_option_id=option
                            )
                        )
                    data.requests.append(
                        (moment, survey, staff, team, site, option, failure is None, replied)
                    )
                    if replied:
                        # Answered a little later: sometimes across the window's edge.
                        submitted = moment + rng.choice([SECOND, dt.timedelta(hours=5)])
                        await _response(
                            conn,
                            account,
                            data,
                            submitted,
                            survey,
                            (staff, team, site),
                            option,
                            request_id,
                            rng.choice([*range(11), None]),
                        )
                # A response without a request (a public link), at the moment itself.
                staff, team = rng.choice([*names.staff, (None, None)])
                site = rng.choice([*names.site_ids, None])
                await _response(
                    conn,
                    account,
                    data,
                    moment,
                    survey,
                    (staff, team, site),
                    None,
                    None,
                    rng.choice(range(11)),
                )
        # A request never sent and one not sent: neither counts anywhere.
        for state in ("pending", "not_sent"):
            await conn.execute(
                insert(FeedbackRequest.__table__).values(
                    account_id=account.id,
                    survey_id=surveys[0],
                    state=state,
                    send_at=START + dt.timedelta(days=5),
                    token=secrets.token_urlsafe(24),
                    created_at=now,
                    updated_at=now,
                )
            )
    return data


async def _response(
    conn: Any,
    account: Account,
    data: DataSet,
    submitted: dt.datetime,
    survey: int,
    dims: tuple[int | None, int | None, int | None],
    option: int | None,
    request_id: int | None,
    rating: int | None,
) -> None:
    staff, team, site = dims
    response_id = await insert_id(
        conn,
        FeedbackResponse,
        account_id=account.id,
        survey_id=survey,
        feedback_request_id=request_id,
        submitted_at=submitted,
        updated_at=submitted,
        staff_id=staff,
        team_id=team,
        site_id=site,
    )
    if rating is not None:
        await conn.execute(
            insert(Answer.__table__).values(
                feedback_response_id=response_id,
                question_id=data.nps_questions[survey],
                value=str(rating),
                rating=rating,
            )
        )
    data.responses.append((submitted, survey, staff, team, site, option, rating))
