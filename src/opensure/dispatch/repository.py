"""All SQL of the dispatcher: claim due requests, load what an email needs, record outcomes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.db import AnyRow
from opensure.db.fast import Query, Session
from opensure.dispatch.outcomes import (
    Deferred,
    NotSent,
    Outcome,
    ReminderDeferred,
    ReminderDropped,
    ReminderSent,
    Sent,
)
from opensure.models import (
    Account,
    AccountLogo,
    EmailTemplate,
    FeedbackRequest,
    FeedbackRequestItem,
    FeedbackResponse,
    Question,
    Survey,
    Unsubscribe,
)
from opensure.stores.request_items import language_of

fr = FeedbackRequest.__table__
item = FeedbackRequestItem.__table__


def due_condition(now: dt.datetime) -> Any:
    return and_(
        fr.c.state == "pending",
        fr.c.send_at <= now,
        or_(fr.c.next_attempt_at.is_(None), fr.c.next_attempt_at <= now),
        or_(fr.c.lease_until.is_(None), fr.c.lease_until < now),
    )


def reminder_due_condition(now: dt.datetime) -> Any:
    """A sent request whose one reminder is due and not claimed (``reminder_due_at <= now``
    implies it is not NULL: PostgreSQL reads ix_feedback_requests_reminder_due)."""
    return and_(
        fr.c.reminder_sent_at.is_(None),
        fr.c.reminder_due_at <= now,
        fr.c.state == "sent",
        or_(fr.c.lease_until.is_(None), fr.c.lease_until < now),
    )


async def claim(
    conn: AsyncConnection,
    *,
    owner: str,
    now: dt.datetime,
    until: dt.datetime,
    limit: int,
    reminders: bool = False,
) -> list[int]:
    """Lease up to ``limit`` due requests, oldest first (with ``reminders``: sent requests
    whose reminder is due, by the same lease). Rows another dispatcher is claiming at this
    moment are skipped (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite serialises writers with
    BEGIN IMMEDIATE)."""
    due = reminder_due_condition(now) if reminders else due_condition(now)
    order = (fr.c.reminder_due_at, fr.c.id) if reminders else (fr.c.send_at, fr.c.id)
    candidates = (
        select(fr.c.id).where(due).order_by(*order).limit(limit).with_for_update(skip_locked=True)
    )
    # Two statements on purpose: as a subquery of the UPDATE (``id IN (SELECT … LIMIT n FOR
    # UPDATE SKIP LOCKED)``) PostgreSQL may run the locking subquery again for every row
    # (a nested-loop semi join, chosen for a freshly filled table), each run skipping the
    # rows just updated and so moving on: one claim then took every due request, in time
    # quadratic in their number. Locked here, the rows stay ours until the commit.
    ids = list((await conn.execute(candidates)).scalars())
    if not ids:
        return []
    stmt = (
        update(fr)
        .where(fr.c.id.in_(ids), due)
        .values(lease_owner=owner, lease_until=until)
        .returning(fr.c.id)
    )
    return list((await conn.execute(stmt)).scalars())


async def load(
    conn: AsyncConnection, ids: Sequence[int], *, reminders: bool = False
) -> list[AnyRow]:
    """What the e-mails of these requests need; with ``reminders``, also what decides whether
    a reminder may still go (an answer, a delivery failure, an erasure)."""
    s, a, t = Survey.__table__, Account.__table__, EmailTemplate.__table__
    logos = AccountLogo.__table__
    extra: list[Any] = []
    if reminders:
        answered = (
            select(FeedbackResponse.__table__.c.id)
            .where(FeedbackResponse.__table__.c.feedback_request_id == fr.c.id)
            .exists()
        )
        extra = [
            answered.label("answered"),
            fr.c.delivery_failure,
            fr.c.deletion_requested_at,
            fr.c.reminder_due_at,
            fr.c.sent_at,
        ]
    stmt = (
        select(
            *extra,
            fr.c.id,
            fr.c.account_id,
            fr.c.email,
            fr.c.first_name,
            fr.c.surname,
            fr.c.reference,
            fr.c.token,
            fr.c.attempts,
            fr.c.first_failed_at,
            fr.c.send_at,
            fr.c.survey_id,
            s.c.code.label("survey_code"),
            s.c.deleted_at.label("survey_deleted_at"),
            a.c.name.label("account_name"),
            a.c.min_interval_days,
            # The account's e-mail settings and brand (its logo by hash: never the bytes).
            a.c.display_name.label("account_display_name"),
            a.c.sender_name,
            a.c.reply_to,
            a.c.brand_colour,
            logos.c.sha256.label("logo_sha256"),
            logos.c.content_type.label("logo_type"),
            t.c.subject.label("template_subject"),
            t.c.body.label("template_body"),
            language_of(fr.c.id).label("language"),
            # The reminder's days in force now: the survey's own setting, else the account's.
            func.coalesce(s.c.reminder_after_days, a.c.reminder_after_days).label("reminder_days"),
        )
        .select_from(
            fr.join(s, s.c.id == fr.c.survey_id)
            .join(a, a.c.id == fr.c.account_id)
            .outerjoin(logos, logos.c.account_id == a.c.id)
            .outerjoin(t, t.c.id == fr.c.email_template_id)
        )
        .where(fr.c.id.in_(ids))
        .order_by(fr.c.send_at, fr.c.id)
    )
    return list((await conn.execute(stmt)).all())


async def first_questions(conn: AsyncConnection, survey_ids: Collection[int]) -> dict[int, AnyRow]:
    """Each survey's first current question (by position, then id), by survey id: one query for
    a batch's surveys, whose Rating questions its e-mails show (one click)."""
    if not survey_ids:
        return {}
    q = Question.__table__
    ranked = (
        select(
            q.c.id,
            q.c.survey_id,
            q.c.type,
            q.c.text,
            q.c.nps,
            q.c.scale_min,
            q.c.scale_max,
            func.row_number()
            .over(partition_by=q.c.survey_id, order_by=(q.c.position, q.c.id))
            .label("place"),
        )
        .where(q.c.survey_id.in_(set(survey_ids)), q.c.removed_at.is_(None))
        .subquery()
    )
    # With the survey's own translations (SPEC §10), so the question is shown in the
    # customer's language when the survey has it.
    sv = Survey.__table__
    stmt = (
        select(ranked, sv.c.translations)
        .join(sv, sv.c.id == ranked.c.survey_id)
        .where(ranked.c.place == 1)
    )
    return {row.survey_id: row for row in await conn.execute(stmt)}


async def query_params(
    conn: AsyncConnection, ids: Sequence[int]
) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {}
    stmt = (
        select(item.c.feedback_request_id, item.c.key, item.c.value)
        .where(item.c.feedback_request_id.in_(ids), item.c.kind == "query_param")
        .order_by(item.c.id)
    )
    for row in await conn.execute(stmt):
        out.setdefault(row.feedback_request_id, []).append((row.key, row.value))
    return out


async def unsubscribed(
    conn: AsyncConnection, pairs: Sequence[tuple[int, str]]
) -> set[tuple[int, str]]:
    """Which (account id, normalised email) pairs have unsubscribed."""
    if not pairs:
        return set()
    u = Unsubscribe.__table__
    stmt = select(u.c.account_id, u.c.email).where(
        u.c.account_id.in_({a for a, _ in pairs}), u.c.email.in_({e for _, e in pairs})
    )
    wanted = set(pairs)
    return {(r.account_id, r.email) for r in await conn.execute(stmt)} & wanted


async def recently_sent(
    conn: AsyncConnection, account_id: int, emails: Sequence[str], since: dt.datetime
) -> set[str]:
    """Normalised addresses (``core.emails``) of this account that were sent a survey email
    since ``since`` (served by ix_feedback_requests_account_email_sent_at)."""
    if not emails:
        return set()
    stmt = select(fr.c.email_normalized).where(
        fr.c.account_id == account_id,
        fr.c.email_normalized.in_(set(emails)),
        fr.c.sent_at >= since,
        fr.c.state == "sent",
    )
    return set((await conn.execute(stmt)).scalars())


# Any state: a sent request's reminder is claimed by the same lease.
_released = (
    update(fr)
    .where(fr.c.id == bindparam("b_id"), fr.c.lease_owner == bindparam("b_owner"))
    .values(lease_owner=None, lease_until=None)
)


# Outcomes are recorded only on requests still pending: a request recorded already, e.g. by
# another dispatcher after this one's lease ran out, keeps what it has.
_FREE_WHERE_PENDING = "lease_owner = NULL, lease_until = NULL WHERE id = $1 AND state = 'pending'"
# The reminder's due time goes in the same statement (no extra one on the hot path).
_SENT = Query(
    "UPDATE feedback_requests SET state = 'sent', sent_at = $2, updated_at = $2,"
    f" delivery_failure = $3, reminder_due_at = $4, {_FREE_WHERE_PENDING}"
)
_NOT_SENT = Query(
    "UPDATE feedback_requests SET state = 'not_sent', updated_at = $2,"
    f" not_sent_reason = $3, {_FREE_WHERE_PENDING}"
)
_DEFERRED = Query(
    "UPDATE feedback_requests SET attempts = attempts + 1, next_attempt_at = $3,"
    " first_failed_at = coalesce(first_failed_at, $2), delivery_failure = $4,"
    f" {_FREE_WHERE_PENDING}"
)


# A reminder's outcome is recorded only while none is recorded (a reminder another dispatcher
# recorded first, after this one's lease ran out, stays as it is).
_FREE_WHERE_NO_REMINDER = (
    "lease_owner = NULL, lease_until = NULL WHERE id = $1 AND state = 'sent'"
    " AND reminder_sent_at IS NULL AND reminder_due_at IS NOT NULL"
)
_REMINDER_SENT = Query(
    "UPDATE feedback_requests SET reminder_sent_at = $2, updated_at = $2,"
    f" {_FREE_WHERE_NO_REMINDER}"
)
_REMINDER_DROPPED = Query(
    f"UPDATE feedback_requests SET reminder_due_at = NULL, {_FREE_WHERE_NO_REMINDER}"
)
_REMINDER_DEFERRED = Query(
    f"UPDATE feedback_requests SET reminder_due_at = $2, {_FREE_WHERE_NO_REMINDER}"
)


async def record(session: Session, outcomes: Sequence[Outcome]) -> None:
    """Record outcomes: one ``executemany`` per kind of outcome (each one round trip on the
    bare drivers). Several kinds are atomic only inside the caller's transaction
    (``kinds(outcomes) > 1``)."""
    ts = session.ts
    sent = [
        (o.request_id, ts(o.at), o.failure, ts(o.reminder_due_at) if o.reminder_due_at else None)
        for o in outcomes
        if isinstance(o, Sent)
    ]
    not_sent = [(o.request_id, ts(o.at), o.reason) for o in outcomes if isinstance(o, NotSent)]
    deferred = [
        (o.request_id, ts(o.at), ts(o.next_at), o.failure)
        for o in outcomes
        if isinstance(o, Deferred)
    ]
    reminded = [(o.request_id, ts(o.at)) for o in outcomes if isinstance(o, ReminderSent)]
    dropped = [(o.request_id,) for o in outcomes if isinstance(o, ReminderDropped)]
    later = [(o.request_id, ts(o.next_at)) for o in outcomes if isinstance(o, ReminderDeferred)]
    for query, rows in (
        (_SENT, sent),
        (_NOT_SENT, not_sent),
        (_DEFERRED, deferred),
        (_REMINDER_SENT, reminded),
        (_REMINDER_DROPPED, dropped),
        (_REMINDER_DEFERRED, later),
    ):
        if rows:
            await session.executemany(query, rows)


def kinds(outcomes: Sequence[Outcome]) -> int:
    """How many kinds of outcome (statements) ``record`` runs for these outcomes."""
    return len({type(o) for o in outcomes})


async def release(conn: AsyncConnection, owner: str, ids: Sequence[int]) -> None:
    """Give claimed requests back (graceful stop) so another dispatcher can take them at once."""
    if ids:
        await conn.execute(_released, [{"b_id": i, "b_owner": owner} for i in ids])


async def due_stats(conn: AsyncConnection, now: dt.datetime) -> tuple[int, dt.datetime | None]:
    """How many requests are due and the send_at of the oldest (for monitoring)."""
    row = (
        await conn.execute(
            select(func.count(), func.min(fr.c.send_at)).where(
                fr.c.state == "pending", fr.c.send_at <= now
            )
        )
    ).one()
    return int(row[0]), row[1]


# ---- bounces (docs/bounces.md) ----


async def bounce_target(conn: AsyncConnection, request_id: int) -> AnyRow | None:
    """What a bounce needs of the request it names: its token (to check the bounce's tag), its
    account and address (a complaint unsubscribes it), its state."""
    stmt = select(
        fr.c.id, fr.c.account_id, fr.c.token, fr.c.email, fr.c.state, fr.c.delivery_failure
    ).where(fr.c.id == request_id)
    return (await conn.execute(stmt)).first()


async def record_bounce(
    conn: AsyncConnection, request_id: int, failure: str, at: dt.datetime
) -> bool:
    """A permanent failure reported after the e-mail was sent (a bounce, a relay's
    notification): the request stays ``sent`` and gets ``delivery_failure``, as for a 5xx reply
    during sending, so the response-rate counters (and PostgreSQL's rollup triggers) move
    exactly as for one. The one place every bounce goes through. True if it changed the
    request: only a sent request without a recorded failure takes one (the first bounce wins;
    a repeat is a no-op)."""
    stmt = (
        update(fr)
        .where(fr.c.id == request_id, fr.c.state == "sent", fr.c.delivery_failure.is_(None))
        .values(delivery_failure=failure, updated_at=at)
        .returning(fr.c.id)
    )
    return (await conn.execute(stmt)).first() is not None


async def recently_bounced(
    conn: AsyncConnection, pairs: Sequence[tuple[int, str]], since: dt.datetime
) -> set[tuple[int, str]]:
    """Which (account id, normalised email) pairs had a survey e-mail sent since ``since`` that
    failed for good (``delivery_failure``: a 5xx reply or a bounce); served by
    ix_feedback_requests_account_email_sent_at."""
    if not pairs:
        return set()
    stmt = (
        select(fr.c.account_id, fr.c.email_normalized)
        .where(
            fr.c.account_id.in_({a for a, _ in pairs}),
            fr.c.email_normalized.in_({e for _, e in pairs}),
            fr.c.sent_at >= since,
            fr.c.state == "sent",
            fr.c.delivery_failure.is_not(None),
        )
        .distinct()
    )
    wanted = set(pairs)
    return {(r.account_id, r.email_normalized) for r in await conn.execute(stmt)} & wanted
