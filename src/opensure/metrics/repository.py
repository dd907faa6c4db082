"""The metric aggregates, each one SQL statement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Date, and_, case, cast, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.metrics import definitions
from opensure.models import (
    Answer,
    FeedbackRequest,
    FeedbackResponse,
    NpsDay,
    NpsRatingDay,
    Question,
    RequestSegmentOption,
    ResponseRateByDay,
    ResponseRateDay,
    ResponsesDay,
    Segment,
    SegmentOption,
    Site,
    Staff,
    Survey,
    Team,
)
from opensure.models.rollups import DIM_OPTION, DIM_SITE, DIM_STAFF, DIM_TEAM

fr = FeedbackRequest.__table__
resp = FeedbackResponse.__table__
ans = Answer.__table__
q = Question.__table__
s = Survey.__table__
rr = ResponseRateDay.__table__
n = NpsDay.__table__


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


def _rate_rollup_conditions(
    account_id: int, days: tuple[dt.date, dt.date], survey_ids: Sequence[int] | None
) -> list[Any]:
    conditions: list[Any] = [rr.c.account_id == account_id, rr.c.day >= days[0], rr.c.day < days[1]]
    if survey_ids:
        conditions.append(rr.c.survey_id.in_(survey_ids))
    return conditions


def _nps_rollup_conditions(
    account_id: int, days: tuple[dt.date, dt.date], question_ids: Sequence[int] | None
) -> list[Any]:
    conditions: list[Any] = [n.c.account_id == account_id, n.c.day >= days[0], n.c.day < days[1]]
    if question_ids:
        conditions.append(n.c.question_id.in_(question_ids))
    return conditions


def _rate_rollup_sums() -> list[Any]:
    return [func.coalesce(func.sum(c), 0) for c in (rr.c.sent, rr.c.delivered, rr.c.replied)]


def _nps_rollup_sums() -> list[Any]:
    return [func.coalesce(func.sum(c), 0) for c in (n.c.promoters, n.c.passives, n.c.detractors)]


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
        row = (
            await conn.execute(
                select(*_rate_rollup_sums()).where(
                    *_rate_rollup_conditions(account_id, days, survey_ids)
                )
            )
        ).one()
        totals = [int(v) for v in row]
    for span in spans:
        part = await _response_rate_raw(conn, account_id, span, survey_ids)
        totals = [a + b for a, b in zip(totals, part, strict=True)]
    return totals[0], totals[1], totals[2]


def _rate_conditions(account_id: int, span: Span, survey_ids: Sequence[int] | None) -> list[Any]:
    start, end, inclusive = span
    conditions: list[Any] = [
        fr.c.account_id == account_id,
        fr.c.state == "sent",
        fr.c.sent_at >= start,
        _upper(fr.c.sent_at, end, inclusive),
    ]
    if survey_ids:
        conditions.append(fr.c.survey_id.in_(survey_ids))
    return conditions


def _rate_columns() -> list[Any]:
    """sent, delivered, replied of the requests selected (the definitions of SPEC §4)."""
    delivered = definitions.is_delivered(fr.c.delivery_failure)
    replied = exists().where(resp.c.feedback_request_id == fr.c.id)
    return [
        func.count(),
        func.coalesce(func.sum(case((delivered, 1), else_=0)), 0),
        func.coalesce(func.sum(case((and_(delivered, replied), 1), else_=0)), 0),
    ]


async def _response_rate_raw(
    conn: AsyncConnection, account_id: int, span: Span, survey_ids: Sequence[int] | None
) -> tuple[int, int, int]:
    stmt = select(*_rate_columns()).where(*_rate_conditions(account_id, span, survey_ids))
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
        row = (
            await conn.execute(
                select(*_nps_rollup_sums()).where(
                    *_nps_rollup_conditions(account_id, days, question_ids)
                )
            )
        ).one()
        totals = [int(v) for v in row]
    for span in spans:
        part = await _nps_raw(conn, account_id, span, question_ids)
        totals = [a + b for a, b in zip(totals, part, strict=True)]
    return totals[0], totals[1], totals[2]


def _nps_conditions(account_id: int, span: Span, question_ids: Sequence[int] | None) -> list[Any]:
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
    return conditions


def _band_columns() -> list[Any]:
    """promoters, passives, detractors among the NPS answers selected."""
    return [
        func.coalesce(func.sum(case((definitions.is_promoter(ans.c.rating), 1), else_=0)), 0),
        func.coalesce(func.sum(case((definitions.is_passive(ans.c.rating), 1), else_=0)), 0),
        func.coalesce(func.sum(case((definitions.is_detractor(ans.c.rating), 1), else_=0)), 0),
    ]


_NPS_ANSWERS = resp.join(ans, ans.c.feedback_response_id == resp.c.id).join(
    q, q.c.id == ans.c.question_id
)


async def _nps_raw(
    conn: AsyncConnection, account_id: int, span: Span, question_ids: Sequence[int] | None
) -> tuple[int, int, int]:
    stmt = (
        select(*_band_columns())
        .select_from(_NPS_ANSWERS)
        .where(*_nps_conditions(account_id, span, question_ids))
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


# ---- the console's dashboards: the same conditions, by day and by dimension ----

Counts = tuple[int, int, int]
st = Staff.__table__
tm = Team.__table__
site = Site.__table__
seg = Segment.__table__
opt = SegmentOption.__table__
rso = RequestSegmentOption.__table__
nb = NpsRatingDay.__table__
rb = ResponsesDay.__table__
rrb = ResponseRateByDay.__table__


def _utc_day(conn: AsyncConnection, column: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    # SQLite stores naive UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]".
    return func.substr(column, 1, 10)


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _add(into: dict[dt.date, Counts], day: dt.date, counts: Sequence[Any]) -> None:
    old = into.get(day, (0, 0, 0))
    into[day] = (old[0] + int(counts[0]), old[1] + int(counts[1]), old[2] + int(counts[2]))


async def plan_for_small_spans(conn: AsyncConnection) -> None:
    """Within this transaction, let PostgreSQL walk indexes for the few thousand rows of a
    window's partial days: with the default random_page_cost it hashes whole tables instead
    (answers, request_segment_options: 150-200 ms instead of 10-30 at a million rows)."""
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")


def _rollup_or_raw(
    conn: AsyncConnection, start: dt.datetime, end: dt.datetime
) -> tuple[tuple[dt.date, dt.date] | None, list[Span]]:
    """Whole days read from the rollups (PostgreSQL) and the spans counted from the rows."""
    if conn.dialect.name != "postgresql":
        return None, [(start, end, True)]
    return split_days(start, end)


async def response_rate_by_day(
    conn: AsyncConnection,
    account_id: int,
    *,
    start: dt.datetime,
    end: dt.datetime,
    survey_ids: Sequence[int] | None,
) -> dict[dt.date, Counts]:
    """(sent, delivered, replied) per UTC day of ``sent_at``, as :func:`response_rate_counts`."""
    by_day: dict[dt.date, Counts] = {}
    days, spans = _rollup_or_raw(conn, start, end)
    if days is not None:
        stmt = (
            select(rr.c.day, *_rate_rollup_sums())
            .where(*_rate_rollup_conditions(account_id, days, survey_ids))
            .group_by(rr.c.day)
        )
        for day, *counts in await conn.execute(stmt):
            _add(by_day, _as_date(day), counts)
    day_of = _utc_day(conn, fr.c.sent_at)
    for span in spans:
        stmt = (
            select(day_of, *_rate_columns())
            .where(*_rate_conditions(account_id, span, survey_ids))
            .group_by(day_of)
        )
        for day, *counts in await conn.execute(stmt):
            _add(by_day, _as_date(day), counts)
    return by_day


async def nps_by_day(
    conn: AsyncConnection,
    account_id: int,
    *,
    start: dt.datetime,
    end: dt.datetime,
    question_ids: Sequence[int] | None,
) -> dict[dt.date, Counts]:
    """(promoters, passives, detractors) per UTC day of ``submitted_at``, as :func:`nps_counts`."""
    by_day: dict[dt.date, Counts] = {}
    days, spans = _rollup_or_raw(conn, start, end)
    if days is not None:
        stmt = (
            select(n.c.day, *_nps_rollup_sums())
            .where(*_nps_rollup_conditions(account_id, days, question_ids))
            .group_by(n.c.day)
        )
        for day, *counts in await conn.execute(stmt):
            _add(by_day, _as_date(day), counts)
    day_of = _utc_day(conn, resp.c.submitted_at)
    for span in spans:
        stmt = (
            select(day_of, *_band_columns())
            .select_from(_NPS_ANSWERS)
            .where(*_nps_conditions(account_id, span, question_ids))
            .group_by(day_of)
        )
        for day, *counts in await conn.execute(stmt):
            _add(by_day, _as_date(day), counts)
    return by_day


# ---- by dimension: staff member "s", team "t", site "l" (key 0: none), segment option "o" ----
# A response's staff member, team and site are those stored on it (copied from its request when
# the customer answered); its options are its request's. Requests have no "t" rows: a request's
# team is its staff member's current team, which the service adds up from the "s" rows.
# PostgreSQL reads whole days from the rollups of migration 0011, the rest from the rows.

NpsByDim = tuple[str, int, int, int]  # (dim, key, rating, answers)
CountByDim = tuple[str, int, int]  # (dim, key, responses)
RateByDim = tuple[str, int, Counts]  # (dim, key, (sent, delivered, replied))


def _response_dims(staff: Any, team: Any, site: Any) -> list[tuple[str, int]]:
    return [(DIM_STAFF, int(staff or 0)), (DIM_TEAM, int(team or 0)), (DIM_SITE, int(site or 0))]


def _request_dims(staff: Any, site: Any) -> list[tuple[str, int]]:
    return [(DIM_STAFF, int(staff or 0)), (DIM_SITE, int(site or 0))]


def _rollup_days(
    table: Any, account_id: int, days: tuple[dt.date, dt.date], column: Any, ids: Any
) -> list[Any]:
    conditions: list[Any] = [
        table.c.account_id == account_id,
        table.c.day >= days[0],
        table.c.day < days[1],
    ]
    if ids:
        conditions.append(column.in_(ids))
    return conditions


async def nps_by_dims(
    conn: AsyncConnection,
    account_id: int,
    *,
    start: dt.datetime,
    end: dt.datetime,
    question_ids: Sequence[int] | None,
) -> list[NpsByDim]:
    """The NPS answers :func:`nps_counts` counts, by dimension value and rating."""
    out: list[NpsByDim] = []
    stmt: Any  # one statement after another, each of its own shape
    days, spans = _rollup_or_raw(conn, start, end)
    if days is not None:
        keys = (nb.c.dim, nb.c.key, nb.c.rating)
        stmt = (
            select(*keys, func.sum(nb.c.n))
            .where(*_rollup_days(nb, account_id, days, nb.c.question_id, question_ids))
            .group_by(*keys)
        )
        out += [(dim, int(k), int(r), int(c)) for dim, k, r, c in await conn.execute(stmt)]
    for span in spans:
        conditions = _nps_conditions(account_id, span, question_ids)
        by = (resp.c.staff_id, resp.c.team_id, resp.c.site_id, ans.c.rating)
        stmt = select(*by, func.count()).select_from(_NPS_ANSWERS).where(*conditions)
        for staff, team, site, rating, count in await conn.execute(stmt.group_by(*by)):
            out += [
                (dim, key, int(rating), int(count))
                for dim, key in _response_dims(staff, team, site)
            ]
        stmt = (
            select(rso.c.segment_option_id, ans.c.rating, func.count())
            .select_from(
                _NPS_ANSWERS.join(rso, rso.c.feedback_request_id == resp.c.feedback_request_id)
            )
            .where(*conditions)
            .group_by(rso.c.segment_option_id, ans.c.rating)
        )
        out += [(DIM_OPTION, int(o), int(r), int(c)) for o, r, c in await conn.execute(stmt)]
    return out


def _response_conditions(
    account_id: int, span: Span, survey_ids: Sequence[int] | None
) -> list[Any]:
    start, end, inclusive = span
    conditions: list[Any] = [
        resp.c.account_id == account_id,
        resp.c.submitted_at >= start,
        _upper(resp.c.submitted_at, end, inclusive),
    ]
    if survey_ids:
        conditions.append(resp.c.survey_id.in_(survey_ids))
    return conditions


async def responses_by_dims(
    conn: AsyncConnection,
    account_id: int,
    *,
    start: dt.datetime,
    end: dt.datetime,
    survey_ids: Sequence[int] | None,
) -> list[CountByDim]:
    """Responses submitted in [start, end], by dimension value."""
    out: list[CountByDim] = []
    stmt: Any  # one statement after another, each of its own shape
    days, spans = _rollup_or_raw(conn, start, end)
    if days is not None:
        stmt = (
            select(rb.c.dim, rb.c.key, func.sum(rb.c.n))
            .where(*_rollup_days(rb, account_id, days, rb.c.survey_id, survey_ids))
            .group_by(rb.c.dim, rb.c.key)
        )
        out += [(dim, int(k), int(c)) for dim, k, c in await conn.execute(stmt)]
    for span in spans:
        conditions = _response_conditions(account_id, span, survey_ids)
        keys = (resp.c.staff_id, resp.c.team_id, resp.c.site_id)
        stmt = select(*keys, func.count()).where(*conditions).group_by(*keys)
        for staff, team, site, count in await conn.execute(stmt):
            out += [(dim, key, int(count)) for dim, key in _response_dims(staff, team, site)]
        stmt = (
            select(rso.c.segment_option_id, func.count())
            .select_from(resp.join(rso, rso.c.feedback_request_id == resp.c.feedback_request_id))
            .where(*conditions)
            .group_by(rso.c.segment_option_id)
        )
        out += [(DIM_OPTION, int(o), int(c)) for o, c in await conn.execute(stmt)]
    return out


async def response_rate_by_dims(
    conn: AsyncConnection,
    account_id: int,
    *,
    start: dt.datetime,
    end: dt.datetime,
    survey_ids: Sequence[int] | None,
) -> list[RateByDim]:
    """(sent, delivered, replied) of the requests :func:`response_rate_counts` counts, by staff
    member, site and segment option (no team: see above)."""
    out: list[RateByDim] = []
    stmt: Any  # one statement after another, each of its own shape
    days, spans = _rollup_or_raw(conn, start, end)
    if days is not None:
        stmt = (
            select(
                rrb.c.dim,
                rrb.c.key,
                *(func.sum(c) for c in (rrb.c.sent, rrb.c.delivered, rrb.c.replied)),
            )
            .where(*_rollup_days(rrb, account_id, days, rrb.c.survey_id, survey_ids))
            .group_by(rrb.c.dim, rrb.c.key)
        )
        out += [
            (dim, int(k), (int(a), int(b), int(c))) for dim, k, a, b, c in await conn.execute(stmt)
        ]
    for span in spans:
        conditions = _rate_conditions(account_id, span, survey_ids)
        keys = (fr.c.staff_id, fr.c.site_id)
        stmt = select(*keys, *_rate_columns()).where(*conditions).group_by(*keys)
        for staff, site, *counts in await conn.execute(stmt):
            triple = (int(counts[0]), int(counts[1]), int(counts[2]))
            out += [(dim, key, triple) for dim, key in _request_dims(staff, site)]
        stmt = (
            select(rso.c.segment_option_id, *_rate_columns())
            .select_from(fr.join(rso, rso.c.feedback_request_id == fr.c.id))
            .where(*conditions)
            .group_by(rso.c.segment_option_id)
        )
        out += [
            (DIM_OPTION, int(o), (int(a), int(b), int(c)))
            for o, a, b, c in await conn.execute(stmt)
        ]
    return out


async def nps_questions_of(
    conn: AsyncConnection, account_id: int, survey_ids: Sequence[int]
) -> list[int]:
    """The NPS questions of these surveys of the account."""
    stmt = (
        select(q.c.id)
        .join(s, s.c.id == q.c.survey_id)
        .where(s.c.account_id == account_id, q.c.nps.is_(True), s.c.id.in_(survey_ids))
        .order_by(q.c.id)
    )
    return list((await conn.execute(stmt)).scalars())


async def staff_members(
    conn: AsyncConnection, account_id: int
) -> dict[int, tuple[str, str, int | None]]:
    """{staff id: (name, code, team id)}."""
    stmt = select(st.c.id, st.c.name, st.c.code, st.c.team_id).where(st.c.account_id == account_id)
    return {int(i): (name, code, team) for i, name, code, team in await conn.execute(stmt)}


async def team_names(conn: AsyncConnection, account_id: int) -> dict[int, str]:
    stmt = select(tm.c.id, tm.c.name).where(tm.c.account_id == account_id)
    return {int(i): name for i, name in await conn.execute(stmt)}


async def site_names(conn: AsyncConnection, account_id: int) -> dict[int, tuple[str, str]]:
    """{site id: (name, site_code)}."""
    stmt = select(site.c.id, site.c.name, site.c.site_code).where(site.c.account_id == account_id)
    return {int(i): (name, code) for i, name, code in await conn.execute(stmt)}


async def segment_options(conn: AsyncConnection, account_id: int) -> dict[int, tuple[str, str]]:
    """{segment option id: (segment key, value)}."""
    stmt = (
        select(opt.c.id, seg.c.key, opt.c.value)
        .join(seg, seg.c.id == opt.c.segment_id)
        .where(seg.c.account_id == account_id)
    )
    return {int(i): (key, value) for i, key, value in await conn.execute(stmt)}
