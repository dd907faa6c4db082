"""Helpers for the feedback request tests: direct database reads and state changes."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, insert, select, update

from opensure.accounts import service as admin
from opensure.core.emails import normalise_email
from opensure.models import (
    FeedbackRequest,
    FeedbackRequestItem,
    FeedbackResponse,
    RequestSegmentOption,
    SegmentOption,
    Site,
    Survey,
)
from opensure.surveys import importer
from tests.conftest import SURVEY, Account

fr = FeedbackRequest.__table__


async def set_state(app: FastAPI, request_id: int, state: str, **values: Any) -> None:
    """Move a request out of pending the way the dispatcher would."""
    now = dt.datetime.now(dt.UTC)
    if state == "sent":
        values.setdefault("sent_at", now)
    if state == "not_sent":
        values.setdefault("not_sent_reason", "Unsubscribed")
    async with app.state.engine.begin() as conn:
        await conn.execute(update(fr).where(fr.c.id == request_id).values(state=state, **values))


async def row(app: FastAPI, request_id: int) -> Any:
    async with app.state.engine.connect() as conn:
        return (await conn.execute(select(fr).where(fr.c.id == request_id))).first()


async def item_count(app: FastAPI, request_id: int) -> int:
    t = FeedbackRequestItem.__table__
    async with app.state.engine.connect() as conn:
        stmt = select(func.count()).select_from(t).where(t.c.feedback_request_id == request_id)
        return int((await conn.execute(stmt)).scalar_one())


async def segment_links(app: FastAPI, request_id: int) -> set[tuple[int, str]]:
    """(segment id, option value) pairs the request is linked to."""
    link, opt = RequestSegmentOption.__table__, SegmentOption.__table__
    stmt = (
        select(opt.c.segment_id, opt.c.value)
        .select_from(link.join(opt, opt.c.id == link.c.segment_option_id))
        .where(link.c.feedback_request_id == request_id)
    )
    async with app.state.engine.connect() as conn:
        return {(r.segment_id, r.value) for r in await conn.execute(stmt)}


async def add_survey(app: FastAPI, account: Account) -> int:
    async with app.state.engine.begin() as conn:
        survey = await importer.import_survey(conn, account.id, SURVEY)
    return int(survey["id"])


async def delete_survey(app: FastAPI, survey_id: int) -> None:
    t = Survey.__table__
    async with app.state.engine.begin() as conn:
        await conn.execute(
            update(t).where(t.c.id == survey_id).values(deleted_at=dt.datetime.now(dt.UTC))
        )


async def add_template(app: FastAPI, account: Account) -> int:
    async with app.state.engine.begin() as conn:
        created = await admin.create_template(
            conn, account.id, name="Custom", subject="How did we do?", body="Hi {{ first_name }}"
        )
    return int(created["id"])


async def add_staff(app: FastAPI, account: Account, code: str, team: str | None = None) -> int:
    async with app.state.engine.begin() as conn:
        created = await admin.create_staff(
            conn, account.id, code=code, name=code.title(), team=team
        )
    return int(created["id"])


async def add_site(app: FastAPI, account: Account, code: str) -> int:
    t = Site.__table__
    async with app.state.engine.begin() as conn:
        stmt = insert(t).values(account_id=account.id, site_code=code, name=code.title())
        return int((await conn.execute(stmt.returning(t.c.id))).scalar_one())


async def add_segment(app: FastAPI, account: Account, key: str) -> int:
    async with app.state.engine.begin() as conn:
        created = await admin.create_segment(conn, account.id, key=key)
    return int(created["id"])


async def add_response(app: FastAPI, account: Account, request_id: int) -> int:
    t = FeedbackResponse.__table__
    async with app.state.engine.begin() as conn:
        stmt = insert(t).values(
            account_id=account.id,
            survey_id=account.survey_id,
            feedback_request_id=request_id,
            email="kate@example.com",
            name="Kate",
            telephone_number="01234 567 890",
            reference="#1",
        )
        return int((await conn.execute(stmt.returning(t.c.id))).scalar_one())


async def response_row(app: FastAPI, response_id: int) -> Any:
    t = FeedbackResponse.__table__
    async with app.state.engine.connect() as conn:
        return (await conn.execute(select(t).where(t.c.id == response_id))).first()


async def insert_request(app: FastAPI, account: Account, **values: Any) -> int:
    """One request written straight to the database (any state, any send_at); its id."""
    now = dt.datetime.now(dt.UTC)
    row: dict[str, Any] = {
        "account_id": account.id,
        "survey_id": account.survey_id,
        "email": "kate@example.com",
        "state": "pending",
        "send_at": now + dt.timedelta(days=1),
        "created_at": now,
        "updated_at": now,
        "token": secrets.token_urlsafe(24),
        **values,
    }
    if row["email"] is not None and "email_normalized" not in values:
        row["email_normalized"] = normalise_email(row["email"])
    async with app.state.engine.begin() as conn:
        stmt = insert(fr).values(**row).returning(fr.c.id)
        return int((await conn.execute(stmt)).scalar_one())
