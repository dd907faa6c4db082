"""The metric aggregates, each one SQL statement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.models import Answer, FeedbackRequest, FeedbackResponse, Question, Survey

fr = FeedbackRequest.__table__
resp = FeedbackResponse.__table__
ans = Answer.__table__
q = Question.__table__
s = Survey.__table__


async def response_rate_counts(
    conn: AsyncConnection,
    account_id: int,
    *,
    start: dt.datetime,
    end: dt.datetime,
    survey_ids: Sequence[int] | None,
) -> tuple[int, int, int]:
    """(sent, delivered, replied) for requests sent in [start, end]."""
    delivered = and_(fr.c.delivery_failure.is_(None))
    replied = exists().where(resp.c.feedback_request_id == fr.c.id)
    conditions: list[Any] = [
        fr.c.account_id == account_id,
        fr.c.state == "sent",
        fr.c.sent_at >= start,
        fr.c.sent_at <= end,
    ]
    if survey_ids:
        conditions.append(fr.c.survey_id.in_(survey_ids))
    stmt = select(
        func.count(),
        func.coalesce(func.sum(case((delivered, 1), else_=0)), 0),
        func.coalesce(func.sum(case((and_(delivered, replied), 1), else_=0)), 0),
    ).where(*conditions)
    sent, delivered_count, replies = (await conn.execute(stmt)).one()
    return int(sent), int(delivered_count), int(replies)


async def nps_counts(
    conn: AsyncConnection,
    account_id: int,
    *,
    start: dt.datetime,
    end: dt.datetime,
    question_ids: Sequence[int] | None,
) -> tuple[int, int, int]:
    """(promoters, passives, detractors) among NPS answers submitted in [start, end]."""
    conditions: list[Any] = [
        resp.c.account_id == account_id,
        resp.c.submitted_at >= start,
        resp.c.submitted_at <= end,
        q.c.nps.is_(True),
        ans.c.rating.is_not(None),
    ]
    if question_ids:
        conditions.append(ans.c.question_id.in_(question_ids))
    stmt = (
        select(
            func.coalesce(func.sum(case((ans.c.rating >= 9, 1), else_=0)), 0),
            func.coalesce(
                func.sum(case((and_(ans.c.rating >= 7, ans.c.rating <= 8), 1), else_=0)), 0
            ),
            func.coalesce(func.sum(case((ans.c.rating <= 6, 1), else_=0)), 0),
        )
        .select_from(
            resp.join(ans, ans.c.feedback_response_id == resp.c.id).join(
                q, q.c.id == ans.c.question_id
            )
        )
        .where(*conditions)
    )
    promoters, passives, detractors = (await conn.execute(stmt)).one()
    return int(promoters), int(passives), int(detractors)


async def owned_nps_questions(
    conn: AsyncConnection, account_id: int, ids: Sequence[int]
) -> set[int]:
    stmt = (
        select(q.c.id)
        .join(s, s.c.id == q.c.survey_id)
        .where(s.c.account_id == account_id, q.c.nps.is_(True), q.c.id.in_(ids))
    )
    return set((await conn.execute(stmt)).scalars())


async def owned_surveys(conn: AsyncConnection, account_id: int, ids: Sequence[int]) -> set[int]:
    stmt = select(s.c.id).where(s.c.account_id == account_id, s.c.id.in_(ids))
    return set((await conn.execute(stmt)).scalars())
