"""Known data sets for the metrics, written straight to the database with SQLAlchemy Core."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import insert, select

from opensure.models import Answer, FeedbackRequest, FeedbackResponse
from opensure.surveys import importer
from tests.conftest import Account

UTC = dt.UTC
requests_t = FeedbackRequest.__table__
responses_t = FeedbackResponse.__table__
answers_t = Answer.__table__

# The fixed window most tests query explicitly: March 2021, both ends inclusive.
START = dt.datetime(2021, 3, 1, tzinfo=UTC)
END = dt.datetime(2021, 3, 31, 23, 59, 59, tzinfo=UTC)
INSIDE = dt.datetime(2021, 3, 15, 12, 0, tzinfo=UTC)
SECOND = dt.timedelta(seconds=1)

SECOND_SURVEY = {
    "name": "Branch visit",
    "questions": [
        {"type": "text", "text": "What did you buy?"},
        {"type": "rating", "text": "Would you recommend this branch?", "nps": True},
        {"type": "rating", "text": "How clean was it?", "scale": [0, 10]},
    ],
}

RATE_KEYS = {"response_rate_percent", "sent_count", "delivered_count", "reply_count"}
NPS_KEYS = {"net_promoter_score", "promoter_count", "passive_count", "detractor_count"}


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window(start: dt.datetime = START, end: dt.datetime = END) -> dict[str, str]:
    return {"from_time": iso(start), "to_time": iso(end)}


def nps_question(account: Account) -> int:
    """The NPS question of the account's first survey (its first question)."""
    question = account.survey["questions"][0]
    assert question["nps"] is True
    return int(question["id"])


async def add_survey(app: FastAPI, account: Account) -> dict[str, Any]:
    """A second survey for the account, with its own NPS question."""
    async with app.state.engine.begin() as conn:
        return await importer.import_survey(conn, account.id, SECOND_SURVEY)


def nps_question_of(survey: dict[str, Any]) -> int:
    (question,) = [q for q in survey["questions"] if q["nps"]]
    return int(question["id"])


@dataclass
class Req:
    """A feedback request, optionally replied to."""

    sent_at: dt.datetime | None
    state: str = "sent"
    failure: str | None = None
    replied_at: dt.datetime | None = None
    survey_id: int | None = None


async def add_requests(app: FastAPI, account: Account, items: list[Req]) -> None:
    now = dt.datetime.now(UTC)
    rows = []
    replies: dict[str, tuple[int, dt.datetime]] = {}
    for item in items:
        token = secrets.token_urlsafe(24)
        survey_id = item.survey_id or account.survey_id
        rows.append(
            {
                "account_id": account.id,
                "survey_id": survey_id,
                "email": "c@example.com",
                "state": item.state,
                "send_at": item.sent_at or now,
                "sent_at": item.sent_at,
                "token": token,
                "created_at": now,
                "updated_at": now,
                "delivery_failure": item.failure,
            }
        )
        if item.replied_at is not None:
            replies[token] = (survey_id, item.replied_at)
    async with app.state.engine.begin() as conn:
        await conn.execute(insert(requests_t), rows)
        if not replies:
            return
        found = await conn.execute(
            select(requests_t.c.id, requests_t.c.token).where(requests_t.c.token.in_(list(replies)))
        )
        await conn.execute(
            insert(responses_t),
            [
                {
                    "account_id": account.id,
                    "survey_id": replies[token][0],
                    "feedback_request_id": request_id,
                    "submitted_at": replies[token][1],
                    "updated_at": replies[token][1],
                }
                for request_id, token in found
            ],
        )


async def add_response(
    app: FastAPI,
    account: Account,
    submitted_at: dt.datetime,
    answers: dict[int, int | str | None],
    *,
    survey_id: int | None = None,
    updated_at: dt.datetime | None = None,
) -> None:
    """One response with answers {question id: rating (int), text (str) or skipped (None)}."""
    async with app.state.engine.begin() as conn:
        response_id = (
            await conn.execute(
                insert(responses_t)
                .values(
                    account_id=account.id,
                    survey_id=survey_id or account.survey_id,
                    submitted_at=submitted_at,
                    updated_at=updated_at or submitted_at,
                )
                .returning(responses_t.c.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(answers_t),
            [
                {
                    "feedback_response_id": response_id,
                    "question_id": qid,
                    "value": "" if value is None else str(value),
                    "rating": value if isinstance(value, int) else None,
                }
                for qid, value in answers.items()
            ],
        )


async def add_ratings(
    app: FastAPI,
    account: Account,
    question_id: int,
    ratings: list[int],
    submitted_at: dt.datetime = INSIDE,
    *,
    survey_id: int | None = None,
) -> None:
    """One response per rating, all answering ``question_id``, submitted at the same moment."""
    async with app.state.engine.begin() as conn:
        ids = []
        for _ in ratings:
            ids.append(
                (
                    await conn.execute(
                        insert(responses_t)
                        .values(
                            account_id=account.id,
                            survey_id=survey_id or account.survey_id,
                            submitted_at=submitted_at,
                            updated_at=submitted_at,
                        )
                        .returning(responses_t.c.id)
                    )
                ).scalar_one()
            )
        await conn.execute(
            insert(answers_t),
            [
                {
                    "feedback_response_id": rid,
                    "question_id": question_id,
                    "value": str(rating),
                    "rating": rating,
                }
                for rid, rating in zip(ids, ratings, strict=True)
            ],
        )


def ratings_for(promoters: int, passives: int, detractors: int) -> list[int]:
    """Ratings spread over each category's whole range (9-10, 7-8, 0-6)."""
    return (
        [(9, 10)[i % 2] for i in range(promoters)]
        + [(7, 8)[i % 2] for i in range(passives)]
        + [i % 7 for i in range(detractors)]
    )


async def today_midnight() -> dt.datetime:
    """Midnight UTC today, waiting first if the day is about to change under the test."""
    now = dt.datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    left = (midnight + dt.timedelta(days=1) - now).total_seconds()
    if left < 15:
        await asyncio.sleep(left + 1)
        return midnight + dt.timedelta(days=1)
    return midnight


def assert_rate(r: httpx.Response, percent: int, sent: int, delivered: int, replies: int) -> None:
    assert r.status_code == 200, r.text
    assert r.json() == {
        "response_rate_percent": percent,
        "sent_count": sent,
        "delivered_count": delivered,
        "reply_count": replies,
    }


def assert_nps(
    r: httpx.Response, score: int | None, promoters: int, passives: int, detractors: int
) -> None:
    assert r.status_code == 200, r.text
    assert r.json() == {
        "net_promoter_score": score,
        "promoter_count": promoters,
        "passive_count": passives,
        "detractor_count": detractors,
    }


def error_fields(r: httpx.Response) -> list[tuple[str, str]]:
    """(field, error) of each validation error of a 422."""
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["message"] == "Validation error"
    for e in body["errors"]:
        assert set(e) == {"resource", "field", "error", "extra_info"}, e
    return sorted((e["field"], e["error"]) for e in body["errors"])
