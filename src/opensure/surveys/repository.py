"""Every query on surveys and questions: creating them, the public pages' lookups (surveys by
code, requests by token, unsubscribes) and the installation secret."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.core.clock import utcnow
from opensure.core.emails import normalise_email
from opensure.db import AnyRow
from opensure.db.ids import id_taken, move_sequence_past_max
from opensure.models import (
    Account,
    AccountLogo,
    FeedbackRequest,
    Question,
    QuestionRevision,
    Staff,
    Survey,
    Unsubscribe,
)
from opensure.stores.request_items import language_of

fr = FeedbackRequest.__table__
_accounts, _logos = Account.__table__, AccountLogo.__table__
# What the pages show of the account: its name, and its brand (``core.branding.brand``).
_ACCOUNT_COLUMNS = (
    _accounts.c.name.label("account_name"),
    _accounts.c.display_name.label("account_display_name"),
    _accounts.c.brand_colour,
    _logos.c.sha256.label("logo_sha256"),
    _logos.c.content_type.label("logo_type"),
)


def _with_account(table: Any, account_id: Any) -> Any:
    """``table`` joined to its account and the account's logo (its hash, not its bytes)."""
    return table.join(_accounts, _accounts.c.id == account_id).outerjoin(
        _logos, _logos.c.account_id == _accounts.c.id
    )


async def survey_by_code(conn: AsyncConnection, code: str) -> tuple[AnyRow, list[AnyRow]] | None:
    s, q = Survey.__table__, Question.__table__
    survey = (
        await conn.execute(
            select(s, *_ACCOUNT_COLUMNS)
            .select_from(_with_account(s, s.c.account_id))
            .where(s.c.code == code)
        )
    ).first()
    if survey is None:
        return None
    questions = (
        await conn.execute(
            select(q)
            .where(q.c.survey_id == survey.id, q.c.removed_at.is_(None))
            .order_by(q.c.position, q.c.id)
        )
    ).all()
    return survey, list(questions)


async def request_by_token(conn: AsyncConnection, token: str) -> AnyRow | None:
    st = Staff.__table__
    stmt = (
        select(
            fr.c.id,
            fr.c.account_id,
            fr.c.survey_id,
            fr.c.email,
            fr.c.first_name,
            fr.c.surname,
            fr.c.reference,
            fr.c.machine_id,
            fr.c.staff_id,
            fr.c.site_id,
            fr.c.deletion_requested_at,
            st.c.team_id,
            language_of(fr.c.id).label("language"),
            *_ACCOUNT_COLUMNS,
        )
        .select_from(_with_account(fr, fr.c.account_id).outerjoin(st, st.c.id == fr.c.staff_id))
        .where(fr.c.token == token)
    )
    return (await conn.execute(stmt)).first()


async def unsubscribe(conn: AsyncConnection, account_id: int, email: str) -> None:
    u = Unsubscribe.__table__
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(
        dialect_insert(u)
        .values(account_id=account_id, email=normalise_email(email), created_at=utcnow())
        .on_conflict_do_nothing()
    )


async def survey_id_taken(conn: AsyncConnection, survey_id: int) -> bool:
    return await id_taken(conn, Survey.__table__, survey_id)


async def insert_survey(
    conn: AsyncConnection,
    *,
    account_id: int,
    code: str,
    name: str,
    now: dt.datetime,
    survey_id: int | None = None,
    reminder_after_days: int | None = None,
) -> int:
    s = Survey.__table__
    values: dict[str, Any] = {"account_id": account_id, "code": code, "name": name}
    values["reminder_after_days"] = reminder_after_days
    values["created_at"] = now
    if survey_id is not None:
        values["id"] = survey_id
    new_id = int((await conn.execute(insert(s).values(**values).returning(s.c.id))).scalar_one())
    if survey_id is not None:
        await move_sequence_past_max(conn, s)
    return new_id


async def list_surveys(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    """The account's surveys, archived ones too, by id, with their number of questions."""
    s, q = Survey.__table__, Question.__table__
    count = (
        select(func.count())
        .where(q.c.survey_id == s.c.id, q.c.removed_at.is_(None))
        .scalar_subquery()
    )
    stmt = (
        select(
            s.c.id,
            s.c.code,
            s.c.name,
            s.c.created_at,
            s.c.updated_at,
            s.c.deleted_at,
            s.c.version,
            s.c.reminder_after_days,
            count.label("questions"),
        )
        .where(s.c.account_id == account_id)
        .order_by(s.c.id)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def survey_with_questions(
    conn: AsyncConnection, account_id: int, survey_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    s, q = Survey.__table__, Question.__table__
    survey = (
        (await conn.execute(select(s).where(s.c.account_id == account_id, s.c.id == survey_id)))
        .mappings()
        .first()
    )
    if survey is None:
        return None
    questions = await conn.execute(
        select(q)
        .where(q.c.survey_id == survey_id, q.c.removed_at.is_(None))
        .order_by(q.c.position, q.c.id)
    )
    return dict(survey), [dict(r) for r in questions.mappings()]


_q = Question.__table__
_rev = QuestionRevision.__table__
# What a revision holds: what the customer is shown of a question.
SHOWN = ("position", "type", "text", "required", "nps", "scale_min", "scale_max", "options")


async def insert_question(
    conn: AsyncConnection,
    survey_id: int,
    values: dict[str, Any],
    *,
    version: int = 1,
    now: dt.datetime | None = None,
) -> int:
    """A new question with its first revision (of survey version ``version``)."""
    shown = {k: values[k] for k in SHOWN}
    stmt = insert(_q).values(survey_id=survey_id, **shown).returning(_q.c.id)
    question_id = int((await conn.execute(stmt)).scalar_one())
    await add_revision(conn, question_id, shown, version=version, now=now or utcnow())
    return question_id


async def add_revision(
    conn: AsyncConnection,
    question_id: int,
    values: dict[str, Any],
    *,
    version: int,
    now: dt.datetime,
) -> int:
    """Record what the question now shows, and make it the question's current state."""
    shown = {k: values[k] for k in SHOWN}
    stmt = (
        insert(_rev)
        .values(question_id=question_id, survey_version=version, created_at=now, **shown)
        .returning(_rev.c.id)
    )
    revision_id = int((await conn.execute(stmt)).scalar_one())
    await conn.execute(
        update(_q).where(_q.c.id == question_id).values(revision_id=revision_id, **shown)
    )
    return revision_id


async def remove_question(conn: AsyncConnection, question_id: int, now: dt.datetime) -> None:
    await conn.execute(update(_q).where(_q.c.id == question_id).values(removed_at=now))


async def update_survey(conn: AsyncConnection, survey_id: int, values: dict[str, Any]) -> None:
    s = Survey.__table__
    await conn.execute(update(s).where(s.c.id == survey_id).values(**values))


async def names(conn: AsyncConnection, account_id: int) -> dict[int, str]:
    """{id: name} of the account's surveys, by name; removed ones too (their requests stay)."""
    s = Survey.__table__
    stmt = select(s.c.id, s.c.name).where(s.c.account_id == account_id).order_by(s.c.name, s.c.id)
    return {int(i): str(name) for i, name in await conn.execute(stmt)}
