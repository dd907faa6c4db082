"""Surveys as the admin side lists and shows them (CLI ``surveys list|show``). Changing and
archiving a survey belong with survey versions (issue 14 §1), so a response keeps the questions
it was given."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.api.timestamps import format as iso
from opensure.core.errors import AdminError
from opensure.surveys import repository as repo


def _survey_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "code": row["code"],
        "name": row["name"],
        "created_at": iso(row["created_at"]),
        "archived_at": iso(row["deleted_at"]),
    }


async def list_surveys(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    return [
        {**_survey_json(r), "questions": r["questions"]}
        for r in await repo.list_surveys(conn, account_id)
    ]


async def show_survey(conn: AsyncConnection, account_id: int, survey_id: int) -> dict[str, Any]:
    found = await repo.survey_with_questions(conn, account_id, survey_id)
    if found is None:
        raise AdminError(f"no survey {survey_id} in this account")
    survey, questions = found
    keys = ("id", "position", "type", "text", "nps", "required", "scale_min", "scale_max")
    return {
        **_survey_json(survey),
        "questions": [{**{k: q[k] for k in keys}, "options": q["options"]} for q in questions],
    }
