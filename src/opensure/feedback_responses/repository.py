"""All SQL for feedback responses: saving answers from the survey page, and the read API."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.core.emails import normalise_email
from opensure.db.fast import Query, Session, Where, in_list, list_param
from opensure.metrics import definitions
from opensure.metrics.definitions import Band
from opensure.models import Answer, FeedbackResponse, Question
from opensure.models.feedback import ANSWER_SEARCH
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
        # Each answer keeps the revision of its question it was given under (what the
        # customer was shown), read in the transaction that checked the answers.
        q = Question.__table__
        found = await conn.execute(select(q.c.id, q.c.revision_id).where(q.c.id.in_(list(answers))))
        revision = {int(qid): rid for qid, rid in found}
        await conn.execute(
            insert(ans),
            [
                {
                    "feedback_response_id": response_id,
                    "question_id": qid,
                    "question_revision_id": revision.get(qid),
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
    rating: int | None
    nps: bool  # 0/1 on SQLite


_N = len(ResponseRow._fields)
_SELECT = ", ".join(f'r."{c}" AS "{c}"' for c in ResponseRow._fields)

GET = Query(f"SELECT {_SELECT} FROM feedback_responses r WHERE r.id = $1 AND r.account_id = $2")


async def get(session: Session, account_id: int, response_id: int) -> ResponseRow | None:
    row = await session.fetchrow(GET, response_id, account_id)
    return None if row is None else ResponseRow._make(row[:_N])


_ANSWER_N = len(AnswerRow._fields)
# An answer reads as it was given: the text, type and position of the question's revision it
# was answered under (an answer written without one, by a tool outside the app, reads as the
# question's current revision).
_ANSWERS_SELECT = (
    "SELECT a.feedback_response_id, a.question_id, a.value, v.text, v.type, a.rating, q.nps "
    "FROM answers a JOIN questions q ON q.id = a.question_id "
    "JOIN question_revisions v ON v.id = COALESCE(a.question_revision_id, q.revision_id) "
)
ANSWERS = Query(
    *(
        f"{_ANSWERS_SELECT}WHERE {c} ORDER BY v.position, q.id"
        for c in in_list("a.feedback_response_id", 1)
    )
)


async def answers_for(session: Session, response_ids: Sequence[int]) -> dict[int, list[AnswerRow]]:
    out: dict[int, list[AnswerRow]] = {rid: [] for rid in response_ids}
    if not response_ids:
        return out
    for row in await session.fetch(ANSWERS, list_param(session, response_ids)):
        answer = AnswerRow._make(row[:_ANSWER_N])
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


# ---- the console's inbox: newest first, keyset pages, every filter, text search ----


@dataclass(frozen=True)
class InboxFilter:
    """What the inbox (and its CSV export) shows: every field that is set narrows it."""

    survey_ids: tuple[int, ...] = ()
    start: dt.datetime | None = None  # submitted at or after
    end: dt.datetime | None = None  # submitted at or before
    band: Band | None = None  # of the rating given to an NPS question
    score: int | None = None  # the rating given to an NPS question
    staff_id: int | None = None
    team_id: int | None = None
    site_id: int | None = None
    segment_option_id: int | None = None
    has_comment: bool = False  # a non-empty answer to a Text question
    words: tuple[str, ...] = ()  # each begins a word of one and the same answer


class Cursor(NamedTuple):
    """Where a page ends: the next page holds the responses submitted before this one."""

    submitted_at: dt.datetime
    id: int


_BAND_SQL = {
    "promoter": definitions.promoter_sql,
    "passive": definitions.passive_sql,
    "detractor": definitions.detractor_sql,
}
_NPS_ANSWER = (
    "EXISTS (SELECT 1 FROM answers a JOIN questions q ON q.id = a.question_id "
    "WHERE a.feedback_response_id = r.id AND q.nps AND {})"
)
_COMMENT = (
    "EXISTS (SELECT 1 FROM answers a JOIN questions q ON q.id = a.question_id "
    "WHERE a.feedback_response_id = r.id AND q.type = 'text' AND trim(a.value) <> '')"
)
_SEGMENT = (
    "EXISTS (SELECT 1 FROM request_segment_options l "
    "WHERE l.feedback_request_id = r.feedback_request_id AND l.segment_option_id = {})"
)
# The answers holding every word: the GIN index of to_tsvector (PostgreSQL), the FTS5 table
# kept by triggers (SQLite), both made by migration 0009. PostgreSQL's parser reads some
# punctuation as structure (an HTML tag is dropped whole, an e-mail address or a decimal number
# is one word), SQLite's tokenizer splits on every punctuation mark: so PostgreSQL indexes the
# text with its ASCII punctuation read as spaces, and both find the same words. This expression
# is the index's (migration 0009): the query must spell it the same to use it.
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
SEARCH_DOCUMENT = (
    "to_tsvector('simple', translate(a.value, '"
    + PUNCTUATION.replace("'", "''")
    + "', '"
    + " " * len(PUNCTUATION)
    + "'))"
)


def _search_pg(n: int) -> str:
    # A correlated check, kept from being turned into a join (OFFSET 0): the newest responses
    # are walked and each one's answers checked until the page is full. Left to itself the
    # planner, misjudging how many answers hold the words, may read every match first.
    return (
        "EXISTS (SELECT 1 FROM answers a WHERE a.feedback_response_id = r.id "
        f"AND {SEARCH_DOCUMENT} @@ to_tsquery('simple', ${n}) OFFSET 0)"
    )


def _search_sqlite(n: int) -> str:
    return (
        "r.id IN (SELECT a.feedback_response_id FROM answers a WHERE a.id IN "
        f"(SELECT rowid FROM {ANSWER_SEARCH} WHERE {ANSWER_SEARCH} MATCH ?{n}))"
    )


# The walk above checks each response's answers, recomputing to_tsvector per answer: fast when
# the words are common (a page's matches come early), seconds when they are rare (the walk
# goes through the whole account). So the GIN index is asked first for up to SEARCH_CAP
# matching answers; when that is all of them, the page is read by those responses' ids
# instead (primary key lookups and a top-N sort: 20 ms for 5,000 ids), and the walk is left
# for words so common that a page's matches come early. Measured with bench/inbox_plans.py.
SEARCH_CAP = 10_000
SEARCH_HITS = Query(
    "SELECT a.feedback_response_id FROM answers a "
    f"WHERE {SEARCH_DOCUMENT} @@ to_tsquery('simple', $1) LIMIT $2"
)


def _fixed(where: Where, condition: str) -> None:
    """A condition without parameters."""
    where.postgresql.append(condition)
    where.sqlite.append(condition)


@functools.cache
def _inbox_query(shape: tuple[Any, ...]) -> Query:
    """One page of the inbox for one filter shape (each shape its own prepared statement).
    Parameters, in this order: account, then each filter that is set, the cursor (time, id),
    the page size."""
    surveys, start, end, band, score, staff, team, site, segment, comment, words, after = shape
    where = Where()
    where.add("r.account_id = {}")
    if surveys:
        where.add_in("r.survey_id")
    if start:
        where.add("r.submitted_at >= {}")
    if end:
        where.add("r.submitted_at <= {}")
    if band is not None:
        _fixed(where, _NPS_ANSWER.format(_BAND_SQL[band]("a.rating")))
    if score:
        where.add(_NPS_ANSWER.format("a.rating = {}"))
    for column, present in (("staff_id", staff), ("team_id", team), ("site_id", site)):
        if present:
            where.add(f"r.{column} = {{}}")
    if segment:
        where.add(_SEGMENT)
    if comment:
        _fixed(where, _COMMENT)
    if words == "ids":
        where.add_in("r.id")
    elif words == "words":
        where.params += 1
        where.postgresql.append(_search_pg(where.params))
        where.sqlite.append(_search_sqlite(where.params))
    if after:
        n = where.params
        where.params += 2
        where.postgresql.append(f"(r.submitted_at, r.id) < (${n + 1}, ${n + 2})")
        where.sqlite.append(f"(r.submitted_at, r.id) < (?{n + 1}, ?{n + 2})")
    limit = where.params + 1
    return Query(
        *(
            f"SELECT {_SELECT} FROM feedback_responses r WHERE {' AND '.join(conditions)} "
            f"ORDER BY r.submitted_at DESC, r.id DESC LIMIT {mark}{limit}"
            for conditions, mark in ((where.postgresql, "$"), (where.sqlite, "?"))
        )
    )


def _search_param(dialect: str, words: Sequence[str]) -> str:
    # Words are letters and digits only (the service splits them so): nothing to escape.
    if dialect == "postgresql":
        return " & ".join(f"'{w}':*" for w in words)
    return " AND ".join(f'"{w}"*' for w in words)


async def inbox_page(
    session: Session,
    account_id: int,
    f: InboxFilter,
    after: Cursor | None,
    limit: int,
    *,
    search_cap: int = SEARCH_CAP,
) -> list[ResponseRow]:
    """Up to ``limit`` of the account's responses that ``f`` lets through, newest submitted
    first (then highest id), starting after ``after``."""
    search: Any = None  # the search's parameter: the words, or the ids of responses (PostgreSQL)
    words = "words" if f.words else None
    if f.words:
        search = _search_param(session.dialect, f.words)
        if session.dialect == "postgresql":
            hits = await session.fetch(SEARCH_HITS, search, search_cap + 1)
            if len(hits) <= search_cap:
                if not hits:
                    return []
                words, search = "ids", list_param(session, sorted({h[0] for h in hits}))
    shape = (
        bool(f.survey_ids),
        f.start is not None,
        f.end is not None,
        f.band,
        f.score is not None,
        f.staff_id is not None,
        f.team_id is not None,
        f.site_id is not None,
        f.segment_option_id is not None,
        f.has_comment,
        words,
        after is not None,
    )
    args: list[Any] = [account_id]
    if f.survey_ids:
        args.append(list_param(session, f.survey_ids))
    args += [session.ts(t) for t in (f.start, f.end) if t is not None]
    args += [
        v for v in (f.score, f.staff_id, f.team_id, f.site_id, f.segment_option_id) if v is not None
    ]
    if search is not None:
        args.append(search)
    if after is not None:
        args += [session.ts(after.submitted_at), after.id]
    records = await session.fetch(_inbox_query(shape), *args, limit)
    return [ResponseRow._make(r[:_N]) for r in records]


class Attribution(NamedTuple):
    """What a response is filed under, the survey it answers and the account's link-back
    template (``opensure.core.linkback``)."""

    survey_name: str
    staff_name: str | None
    staff_code: str | None
    team_name: str | None
    site_name: str | None
    site_code: str | None
    link_back_template: str | None


ATTRIBUTION = Query(
    "SELECT s.name, st.name, st.code, t.name, si.name, si.site_code, ac.link_back_template "
    "FROM feedback_responses r JOIN surveys s ON s.id = r.survey_id "
    "JOIN accounts ac ON ac.id = r.account_id "
    "LEFT JOIN staff st ON st.id = r.staff_id LEFT JOIN teams t ON t.id = r.team_id "
    "LEFT JOIN sites si ON si.id = r.site_id WHERE r.id = $1 AND r.account_id = $2"
)


async def attribution(session: Session, account_id: int, response_id: int) -> Attribution | None:
    row = await session.fetchrow(ATTRIBUTION, response_id, account_id)
    return None if row is None else Attribution._make(row)


SEGMENTS_OF = Query(
    "SELECT g.key, o.value FROM request_segment_options l "
    "JOIN segment_options o ON o.id = l.segment_option_id JOIN segments g ON g.id = o.segment_id "
    "WHERE l.feedback_request_id = $1 ORDER BY g.key, o.value"
)


async def segments_of(session: Session, request_id: int) -> list[tuple[str, str]]:
    """The (segment key, option) pairs a request is linked to."""
    return [(r[0], r[1]) for r in await session.fetch(SEGMENTS_OF, request_id)]


class Choice(NamedTuple):
    """One thing the inbox can be filtered by: a survey, staff member, team, site or
    segment option (``group``: the staff code, site code or segment key)."""

    kind: str
    id: int
    label: str
    group: str | None


CHOICES = Query(
    "SELECT 'survey', id, name, NULL FROM surveys WHERE account_id = $1 "
    "UNION ALL SELECT 'staff', id, name, code FROM staff WHERE account_id = $1 "
    "UNION ALL SELECT 'team', id, name, NULL FROM teams WHERE account_id = $1 "
    "UNION ALL SELECT 'site', id, name, site_code FROM sites WHERE account_id = $1 "
    "UNION ALL SELECT 'segment', o.id, o.value, g.key FROM segment_options o "
    "JOIN segments g ON g.id = o.segment_id WHERE g.account_id = $1 "
    "ORDER BY 1, 4, 3, 2"
)


async def choices(session: Session, account_id: int) -> list[Choice]:
    return [Choice._make(r) for r in await session.fetch(CHOICES, account_id)]


class QuestionRow(NamedTuple):
    id: int
    survey_id: int
    text: str


_QUESTIONS = (
    "SELECT q.id, q.survey_id, q.text FROM questions q JOIN surveys s ON s.id = q.survey_id "
    "WHERE s.account_id = $1"
)
_QUESTIONS_ORDER = " ORDER BY q.survey_id, q.position, q.id"
QUESTIONS = Query(_QUESTIONS + _QUESTIONS_ORDER)
QUESTIONS_OF = Query(
    *(f"{_QUESTIONS} AND {c}{_QUESTIONS_ORDER}" for c in in_list("q.survey_id", 2))
)


async def questions(
    session: Session, account_id: int, survey_ids: Sequence[int]
) -> list[QuestionRow]:
    """The questions of the account's surveys (of ``survey_ids`` only, when given), in each
    survey's order."""
    if survey_ids:
        rows = await session.fetch(QUESTIONS_OF, account_id, list_param(session, survey_ids))
    else:
        rows = await session.fetch(QUESTIONS, account_id)
    return [QuestionRow._make(r) for r in rows]
