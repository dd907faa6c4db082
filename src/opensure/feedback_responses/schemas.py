"""The feedback response as the API shows it, and the models that document it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from opensure.api.timestamps import format as ts
from opensure.feedback_requests.repository import RequestWithItems
from opensure.feedback_requests.schemas import FeedbackRequestRead
from opensure.feedback_requests.schemas import to_json as request_json
from opensure.feedback_responses.repository import AnswerRow, ResponseRow
from opensure.models.surveys import TYPE_NAMES


def to_json(
    row: ResponseRow,
    answers: list[AnswerRow],
    request: RequestWithItems | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "email": row.email,
        "name": row.name,
        "telephone_number": row.telephone_number,
    }
    if request is not None:
        for i in request[1]:
            fields.setdefault(i.key, i.value)
    return {
        "id": row.id,
        "reference": row.reference,
        "machine_id": row.machine_id,
        "survey_id": row.survey_id,
        "fields": fields,
        "answers": [
            {
                "question_id": a.question_id,
                "question": a.text,
                "answer": a.value,
                "type": TYPE_NAMES.get(a.type, a.type),
            }
            for a in answers
        ],
        "submitted_at": ts(row.submitted_at),
        "updated_at": ts(row.updated_at),
        "feedback_request": request_json(*request) if request is not None else None,
    }


class AnswerRead(BaseModel):
    question_id: int
    question: str
    answer: str = Field(description="Checkbox answers are the chosen options joined by ', '.")
    type: Literal["Rating", "Text", "Dropdown", "Radio", "Checkbox"]


class FeedbackResponseRead(BaseModel):
    id: int
    reference: str | None
    machine_id: str | None
    survey_id: int
    fields: dict[str, str | None] = Field(
        description="email, name, telephone_number, plus the request's data and query_params."
    )
    answers: list[AnswerRead]
    submitted_at: str
    updated_at: str
    feedback_request: FeedbackRequestRead | None
