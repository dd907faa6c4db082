"""The metric aggregates, each one SQL statement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.metrics import definitions
from opensure.models import (
    Answer,
    FeedbackRequest,
    FeedbackResponse,
    NpsDay,
    Question,
    ResponseRateDay,
    Survey,
)

fr = FeedbackRequest.__table__
resp = FeedbackResponse.__table__
ans = Answer.__table__
q = Question.__table__
s = Survey.__table__


Span = tuple[dt.datetime, dt.datetime, bool]  # low (inclusive), high, high inclusive?


def split_days(
    start: dt.datetime, end: dt.datetime
) -> tuple[tuple[dt.date, dt.date] | None, list[Span]]:
    """The whole UTC days inside [start, end] as [first, stop), and the partial spans left over."""
    first = start.date() if start.time() == dt.time(0) else start.date() + dt.timedelta(days=1)
    # A day is whole when its last microsecond is inside the window.
    stop = (end + dt.timedelta(microseconds=1)).date()
    if first >= stop:
        return None, [(start, end, True)]
    spans: list[Span] = []
    first_midnight = dt.datetime.combine(first, dt.time(0), dt.UTC)
    stop_midnight = dt.datetime.combine(stop, dt.time(0), dt.UTC)
    if start < first_midnight:
        spans.append((start, first_midnight, False))
    if stop_midnight <= end:
        spans.append((stop_midnight, end, True))
    return (first, stop), spans


def _upper(column: Any, high: dt.datetime, inclusive: bool) -> Any:
    return column <= high if inclusive else column < high


async def response_rate_counts(
    conn: AsyncConnection,
    account_id: int,
    *,
    start: dt.datetime,
    end: dt.datetime,
    survey_ids: Sequence[int] | None,
) -> tuple[int, int, int]:
    """(sent, delivered, replied) for requests sent in [start, end]."""
    if conn.dialect.name != "postgresql":
        return await _response_rate_raw(conn, account_id, (start, end, True), survey_ids)
    days, spans = split_days(start, end)
    totals = [0, 0, 0]
    if days is not None:
        rr = ResponseRateDay.__table__
        conditions: list[Any] = [
            rr.c.account_id == account_id,
            rr.c.day >= days[0],
            rr.c.day < days[1],
        ]
        if survey_ids:
            conditions.append(rr.c.survey_id.in_(survey_ids))
        row = (
            await conn.execute(
                select(
                    func.coalesce(func.sum(rr.c.sent), 0),
                    func.coalesce(func.sum(rr.c.delivered), 0),
                    func.coalesce(func.sum(rr.c.replied), 0),
                ).where(*conditions)
            )
        ).one()
        totals = [int(v) for v in row]
    for span in spans:
        part = await _response_rate_raw(conn, account_id, span, survey_ids)
        totals = [a + b for a, b in zip(totals, part, strict=True)]
    return totals[0], totals[1], totals[2]


async def _response_rate_raw(
    conn: AsyncConnection, account_id: int, span: Span, survey_ids: Sequence[int] | None
) -> tuple[int, int, int]:
    start, end, inclusive = span
    delivered = definitions.is_delivered(fr.c.delivery_failure)
    replied = exists().where(resp.c.feedback_request_id == fr.c.id)
    conditions: list[Any] = [
        fr.c.account_id == account_id,
        fr.c.state == "sent",
        fr.c.sent_at >= start,
        _upper(fr.c.sent_at, end, inclusive),
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
    if conn.dialect.name != "postgresql":
        return await _nps_raw(conn, account_id, (start, end, True), question_ids)
    days, spans = split_days(start, end)
    totals = [0, 0, 0]
    if days is not None:
        n = NpsDay.__table__
        conditions: list[Any] = [
            n.c.account_id == account_id,
            n.c.day >= days[0],
            n.c.day < days[1],
        ]
        if question_ids:
            conditions.append(n.c.question_id.in_(question_ids))
        row = (
            await conn.execute(
                select(
                    func.coalesce(func.sum(n.c.promoters), 0),
                    func.coalesce(func.sum(n.c.passives), 0),
                    func.coalesce(func.sum(n.c.detractors), 0),
                ).where(*conditions)
            )
        ).one()
        totals = [int(v) for v in row]
    for span in spans:
        part = await _nps_raw(conn, account_id, span, question_ids)
        totals = [a + b for a, b in zip(totals, part, strict=True)]
    return totals[0], totals[1], totals[2]


async def _nps_raw(
    conn: AsyncConnection, account_id: int, span: Span, question_ids: Sequence[int] | None
) -> tuple[int, int, int]:
    start, end, inclusive = span
    conditions: list[Any] = [
        resp.c.account_id == account_id,
        resp.c.submitted_at >= start,
        _upper(resp.c.submitted_at, end, inclusive),
        q.c.nps.is_(True),
        ans.c.rating.is_not(None),
    ]
    if question_ids:
        conditions.append(ans.c.question_id.in_(question_ids))
    stmt = (
        select(
            func.coalesce(func.sum(case((definitions.is_promoter(ans.c.rating), 1), else_=0)), 0),
            func.coalesce(func.sum(case((definitions.is_passive(ans.c.rating), 1), else_=0)), 0),
            func.coalesce(func.sum(case((definitions.is_detractor(ans.c.rating), 1), else_=0)), 0),
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
