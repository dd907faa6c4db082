"""All SQL for feedback responses: saving answers from the survey page, and the read API."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.core.emails import normalise_email
from opensure.db.fast import Query, Session, Where, in_list, list_param
from opensure.models import Answer, FeedbackResponse
from opensure.paging import page_sql, window

resp = FeedbackResponse.__table__
ans = Answer.__table__


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


# ---- the read API: hand-written SQL on the bare driver (opensure.db.fast) ----


class ResponseRow(NamedTuple):
    """A response's columns the API shows (timestamps as the driver returns them)."""

    id: int
    reference: str | None
    machine_id: str | None
    survey_id: int
    feedback_request_id: int | None
    email: str | None
    name: str | None
    telephone_number: str | None
    submitted_at: Any
    updated_at: Any


class AnswerRow(NamedTuple):
    feedback_response_id: int
    question_id: int
    value: str
    text: str
    type: str


_N = len(ResponseRow._fields)
_SELECT = ", ".join(f'r."{c}" AS "{c}"' for c in ResponseRow._fields)

GET = Query(f"SELECT {_SELECT} FROM feedback_responses r WHERE r.id = $1 AND r.account_id = $2")


async def get(session: Session, account_id: int, response_id: int) -> ResponseRow | None:
    row = await session.fetchrow(GET, response_id, account_id)
    return None if row is None else ResponseRow._make(row[:_N])


_ANSWERS_SELECT = (
    "SELECT a.feedback_response_id, a.question_id, a.value, q.text, q.type "
    "FROM answers a JOIN questions q ON q.id = a.question_id "
)
ANSWERS = Query(
    *(
        f"{_ANSWERS_SELECT}WHERE {c} ORDER BY q.position, q.id"
        for c in in_list("a.feedback_response_id", 1)
    )
)


async def answers_for(session: Session, response_ids: Sequence[int]) -> dict[int, list[AnswerRow]]:
    out: dict[int, list[AnswerRow]] = {rid: [] for rid in response_ids}
    if not response_ids:
        return out
    for row in await session.fetch(ANSWERS, list_param(session, response_ids)):
        answer = AnswerRow._make(row[:5])
        out[answer.feedback_response_id].append(answer)
    return out


@functools.cache
def _list_queries(since: bool, email: bool, surveys: bool, reverse: bool) -> tuple[Query, Query]:
    """COUNT and page statements for one filter shape (parameters: account, [updated since],
    [email], [survey ids], limit, offset)."""
    where = Where()
    where.add("account_id = {}")
    if since:
        where.add("updated_at >= {}")
    if email:
        where.add("email_normalized = {}")
    if surveys:
        where.add_in("survey_id")
    limit, offset = where.params + 1, where.params + 2
    if not since and not email:
        # Exact totals kept by triggers (migration 0005) on PostgreSQL: no COUNT(*).
        count_pg = "SELECT coalesce(sum(n), 0)::bigint FROM rollup_response_counts WHERE "
    else:
        count_pg = "SELECT count(*) FROM feedback_responses WHERE "
    count = Query(
        count_pg + " AND ".join(where.postgresql),
        "SELECT count(*) FROM feedback_responses WHERE " + " AND ".join(where.sqlite),
    )
    page = [
        page_sql(
            _SELECT,
            "feedback_responses",
            "r",
            conditions,
            ("submitted_at", "id"),
            limit=f"{mark}{limit}",
            offset=f"{mark}{offset}",
            reverse=reverse,
        )
        for conditions, mark in ((where.postgresql, "$"), (where.sqlite, "?"))
    ]
    return count, Query(*page)


async def list_page(
    session: Session,
    account_id: int,
    *,
    updated_since: dt.datetime | None,
    email: str | None,
    survey_ids: list[int] | None,
    limit: int,
    offset: int,
) -> tuple[list[ResponseRow], int]:
    args: list[Any] = [account_id]
    if updated_since is not None:
        args.append(session.ts(updated_since))
    if email is not None:
        args.append(normalise_email(email))
    if survey_ids:
        args.append(list_param(session, survey_ids))
    shape = (updated_since is not None, email is not None, bool(survey_ids))
    count, _ = _list_queries(*shape, False)
    row = await session.fetchrow(count, *args)
    total = int(row[0]) if row is not None else 0
    if offset >= total:
        return [], total
    reverse, size, start = window(offset, limit, total)
    _, page = _list_queries(*shape, reverse)
    records = await session.fetch(page, *args, size, start)
    return [ResponseRow._make(r[:_N]) for r in records], total
