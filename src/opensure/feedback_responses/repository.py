"""All SQL for feedback responses: saving answers from the survey page, and the read API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.db import AnyRow
from opensure.models import Answer, FeedbackResponse, Question, ResponseCount
from opensure.paging import page_select

resp = FeedbackResponse.__table__
ans = Answer.__table__
q = Question.__table__

COLUMNS = (
    resp.c.id,
    resp.c.reference,
    resp.c.machine_id,
    resp.c.survey_id,
    resp.c.feedback_request_id,
    resp.c.email,
    resp.c.name,
    resp.c.telephone_number,
    resp.c.submitted_at,
    resp.c.updated_at,
)


async def response_for_request(conn: AsyncConnection, request_id: int) -> int | None:
    stmt = select(resp.c.id).where(resp.c.feedback_request_id == request_id)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).scalar()


async def insert_response(conn: AsyncConnection, values: dict[str, Any]) -> int:
    return int(
        (await conn.execute(insert(resp).values(**values).returning(resp.c.id))).scalar_one()
    )


async def touch_response(conn: AsyncConnection, response_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(resp).where(resp.c.id == response_id).values(**values))


async def replace_answers(
    conn: AsyncConnection, response_id: int, answers: dict[int, tuple[str, int | None]]
) -> None:
    await conn.execute(delete(ans).where(ans.c.feedback_response_id == response_id))
    if answers:
        await conn.execute(
            insert(ans),
            [
                {
                    "feedback_response_id": response_id,
                    "question_id": qid,
                    "value": value,
                    "rating": rating,
                }
                for qid, (value, rating) in answers.items()
            ],
        )


async def get(conn: AsyncConnection, account_id: int, response_id: int) -> AnyRow | None:
    stmt = select(*COLUMNS).where(resp.c.id == response_id, resp.c.account_id == account_id)
    return (await conn.execute(stmt)).first()


async def answers_for(
    conn: AsyncConnection, response_ids: Sequence[int]
) -> dict[int, list[AnyRow]]:
    out: dict[int, list[AnyRow]] = {rid: [] for rid in response_ids}
    if not response_ids:
        return out
    stmt = (
        select(ans.c.feedback_response_id, ans.c.question_id, ans.c.value, q.c.text, q.c.type)
        .join(q, q.c.id == ans.c.question_id)
        .where(ans.c.feedback_response_id.in_(response_ids))
        .order_by(q.c.position, q.c.id)
    )
    for row in await conn.execute(stmt):
        out[row.feedback_response_id].append(row)
    return out


async def list_page(
    conn: AsyncConnection,
    account_id: int,
    *,
    updated_since: dt.datetime | None,
    email: str | None,
    survey_ids: list[int] | None,
    limit: int,
    offset: int,
) -> tuple[list[AnyRow], int]:
    conditions: list[Any] = [resp.c.account_id == account_id]
    if updated_since is not None:
        conditions.append(resp.c.updated_at >= updated_since)
    if email is not None:
        conditions.append(func.lower(resp.c.email) == email.lower())
    if survey_ids:
        conditions.append(resp.c.survey_id.in_(survey_ids))
    where = and_(*conditions)
    if conn.dialect.name == "postgresql" and updated_since is None and email is None:
        # Exact totals kept by triggers (migration 0005): no COUNT(*) over the account.
        rc = ResponseCount.__table__
        counted: list[Any] = [rc.c.account_id == account_id]
        if survey_ids:
            counted.append(rc.c.survey_id.in_(survey_ids))
        count_stmt = select(func.coalesce(func.sum(rc.c.n), 0)).where(*counted)
    else:
        count_stmt = select(func.count()).select_from(resp).where(where)
    total = int((await conn.execute(count_stmt)).scalar_one())
    if offset >= total:
        return [], total
    stmt = page_select(
        COLUMNS,
        resp.c.id,
        where,
        (resp.c.submitted_at.desc(), resp.c.id.desc()),
        limit=limit,
        offset=offset,
        total=total,
    )
    return list((await conn.execute(stmt)).all()), total
