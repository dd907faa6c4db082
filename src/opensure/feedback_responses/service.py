"""Rules for feedback responses: saving a survey submission, reading responses back."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.api.errors import NotFound
from opensure.core.clock import utcnow
from opensure.core.emails import normalised_or_none
from opensure.db import AnyRow
from opensure.db.fast import Session
from opensure.feedback_requests import repository as requests_repo
from opensure.feedback_responses import repository as repo
from opensure.feedback_responses.repository import ResponseRow
from opensure.feedback_responses.schemas import to_json


async def save_submission(
    conn: AsyncConnection,
    *,
    survey: AnyRow,
    request: AnyRow | None,
    contact: dict[str, str | None],
    answers: dict[int, tuple[str, int | None]],
) -> int:
    """Store answers. Through an emailed link, answering again updates the same response."""
    now = utcnow()
    if request is None:
        return await _insert(conn, survey, None, contact, answers, now)
    existing = await repo.response_for_request(conn, request.id)
    if existing is None:
        try:
            async with conn.begin_nested():
                return await _insert(conn, survey, request, contact, answers, now)
        except IntegrityError:
            # The same link submitted twice at once: the other submission won; update it.
            existing = await repo.response_for_request(conn, request.id)
            if existing is None:
                raise
    await repo.touch_response(conn, existing, {"updated_at": now})
    await repo.replace_answers(conn, existing, answers)
    return existing


async def _insert(
    conn: AsyncConnection,
    survey: AnyRow,
    request: AnyRow | None,
    contact: dict[str, str | None],
    answers: dict[int, tuple[str, int | None]],
    now: Any,
) -> int:
    values: dict[str, Any] = {
        "account_id": survey.account_id,
        "survey_id": survey.id,
        "submitted_at": now,
        "updated_at": now,
    }
    if request is not None:
        name = " ".join(p for p in (request.first_name, request.surname) if p) or None
        values.update(
            feedback_request_id=request.id,
            email=request.email,
            name=name,
            reference=request.reference,
            machine_id=request.machine_id,
            staff_id=request.staff_id,
            team_id=request.team_id,
            site_id=request.site_id,
        )
    else:
        values.update(contact)
    values["email_normalized"] = normalised_or_none(values.get("email"))
    response_id = await repo.insert_response(conn, values)
    await repo.replace_answers(conn, response_id, answers)
    return response_id


async def render_many(session: Session, rows: list[ResponseRow]) -> list[dict[str, Any]]:
    """The responses' JSON, with their answers and the requests they answer: two statements."""
    answers = await repo.answers_for(session, [r.id for r in rows])
    request_ids = [r.feedback_request_id for r in rows if r.feedback_request_id is not None]
    requests = await requests_repo.many(session, request_ids)
    return [
        to_json(
            r, answers[r.id], requests.get(r.feedback_request_id) if r.feedback_request_id else None
        )
        for r in rows
    ]


async def get(*, session: Session, account_id: int, response_id: int | None) -> dict[str, Any]:
    row = await repo.get(session, account_id, response_id) if response_id else None
    if row is None:
        raise NotFound()
    return (await render_many(session, [row]))[0]
