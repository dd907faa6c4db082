"""All SQL for feedback responses: saving answers from the survey page, and the read API."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.core.emails import normalise_email
from opensure.db.fast import Query, Session
from opensure.models import Answer, FeedbackResponse

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
    _ANSWERS_SELECT + "WHERE a.feedback_response_id = ANY($1::bigint[]) ORDER BY q.position, q.id",
    _ANSWERS_SELECT
    + "WHERE a.feedback_response_id IN (SELECT value FROM json_each(?1)) "
    + "ORDER BY q.position, q.id",
)


def _id_list(session: Session, ids: Sequence[int]) -> Any:
    return list(ids) if session.dialect == "postgresql" else orjson.dumps(list(ids)).decode()


async def answers_for(session: Session, response_ids: Sequence[int]) -> dict[int, list[AnswerRow]]:
    out: dict[int, list[AnswerRow]] = {rid: [] for rid in response_ids}
    if not response_ids:
        return out
    for row in await session.fetch(ANSWERS, _id_list(session, response_ids)):
        answer = AnswerRow._make(row[:5])
        out[answer.feedback_response_id].append(answer)
    return out


@functools.cache
def _list_queries(since: bool, email: bool, surveys: bool, reverse: bool) -> tuple[Query, Query]:
    """COUNT and page statements for one filter shape (parameters: account, [updated since],
    [email], [survey ids], limit, offset)."""
    pg: list[str] = ["account_id = $1"]
    lite: list[str] = ["account_id = ?1"]
    n = 1
    if since:
        n += 1
        pg.append(f"updated_at >= ${n}")
        lite.append(f"updated_at >= ?{n}")
    if email:
        n += 1
        pg.append(f"email_normalized = ${n}")
        lite.append(f"email_normalized = ?{n}")
    if surveys:
        n += 1
        pg.append(f"survey_id = ANY(${n}::bigint[])")
        lite.append(f"survey_id IN (SELECT value FROM json_each(?{n}))")
    limit, offset = n + 1, n + 2
    if not since and not email:
        # Exact totals kept by triggers (migration 0005) on PostgreSQL: no COUNT(*).
        counted = " AND ".join(pg)
        count_pg = f"SELECT coalesce(sum(n), 0)::bigint FROM rollup_response_counts WHERE {counted}"
    else:
        count_pg = f"SELECT count(*) FROM feedback_responses WHERE {' AND '.join(pg)}"
    count = Query(count_pg, f"SELECT count(*) FROM feedback_responses WHERE {' AND '.join(lite)}")
    # As opensure.paging.page_select: a deferred join, the second half read from the other end.
    order = "submitted_at ASC, id ASC" if reverse else "submitted_at DESC, id DESC"

    def page(where: list[str], mark: str) -> str:
        return (
            f"SELECT {_SELECT} FROM (SELECT id FROM feedback_responses "
            f"WHERE {' AND '.join(where)} ORDER BY {order} "
            f"LIMIT {mark}{limit} OFFSET {mark}{offset}) AS page "
            "JOIN feedback_responses r ON r.id = page.id "
            "ORDER BY r.submitted_at DESC, r.id DESC"
        )

    return count, Query(page(pg, "$"), page(lite, "?"))


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
        args.append(_id_list(session, survey_ids))
    shape = (updated_since is not None, email is not None, bool(survey_ids))
    count, _ = _list_queries(*shape, False)
    row = await session.fetchrow(count, *args)
    total = int(row[0]) if row is not None else 0
    if offset >= total:
        return [], total
    reverse = offset + limit / 2 > total / 2
    _, page = _list_queries(*shape, reverse)
    if reverse:
        size = min(limit, total - offset)
        records = await session.fetch(page, *args, size, total - offset - size)
    else:
        records = await session.fetch(page, *args, limit, offset)
    return [ResponseRow._make(r[:_N]) for r in records], total
