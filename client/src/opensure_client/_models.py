"""The objects the API returns, as typed Pydantic models.

Models keep fields they do not know (``extra="allow"``), so a server that adds attributes does
not break the client; they are reachable as attributes and in ``model_extra``. Timestamps are
aware ``datetime`` objects in UTC; a timestamp without an offset is read as UTC, as the API does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "Answer",
    "DataItem",
    "ErrorDetail",
    "FeedbackRequest",
    "FeedbackResponse",
    "NetPromoterScore",
    "ResponseRate",
    "Site",
]


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


Timestamp = Annotated[datetime, AfterValidator(_as_utc)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)


class ErrorDetail(_Model):
    """One problem of a 422 answer: which resource and field, and why."""

    resource: str | None = None
    field: str | None = None
    error: str = Field(description="required, invalid_format, wrong_length, invalid_value, ...")
    extra_info: dict[str, Any] = Field(default_factory=dict)

    def describe(self) -> str:
        text = f"{self.field or '?'}: {self.error}"
        message = self.extra_info.get("message")
        return f"{text} ({message})" if message else text


class DataItem(_Model):
    """A key/value pair on a feedback request (``data`` or ``query_params``)."""

    id: int | None = None
    key: str
    value: str | None = None


class FeedbackRequest(_Model):
    """A scheduled survey email and what became of it."""

    id: int
    email: str | None = None
    state: str = Field(description="pending, sent or not_sent")
    first_name: str | None = None
    surname: str | None = None
    survey_id: int
    email_template_id: int | None = None
    reference: str | None = None
    machine_id: str | None = None
    send_at: Timestamp
    sent_at: Timestamp | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    deletion_requested_at: Timestamp | None = None
    not_sent_reason: str | None = None
    delivery_failure: str | None = None
    reminder_sent_at: Timestamp | None = Field(
        None, description="When the one reminder e-mail was sent; None unless it was."
    )
    data: list[DataItem] = Field(default_factory=list)
    query_params: list[DataItem] = Field(default_factory=list)

    def data_dict(self) -> dict[str, str | None]:
        """``data`` as a dict (the last value wins when a key repeats)."""
        return {item.key: item.value for item in self.data}


class Answer(_Model):
    """One answer of a feedback response."""

    question_id: int
    question: str | None = None
    answer: str | None = None
    type: str = Field(description="Rating, Text, Dropdown, Radio or Checkbox")


class FeedbackResponse(_Model):
    """A customer's answers to a survey."""

    id: int
    reference: str | None = None
    machine_id: str | None = None
    survey_id: int
    fields: dict[str, str | None] = Field(default_factory=dict)
    answers: list[Answer] = Field(default_factory=list)
    submitted_at: Timestamp
    updated_at: Timestamp | None = None
    feedback_request: FeedbackRequest | None = None

    def answer_to(self, question_id: int) -> str | None:
        """The answer given to a question, or None if it was not answered."""
        for answer in self.answers:
            if answer.question_id == question_id:
                return answer.answer
        return None


class NetPromoterScore(_Model):
    """NPS over a window: ``net_promoter_score`` is None when there were no answers."""

    net_promoter_score: int | None = None
    promoter_count: int
    passive_count: int
    detractor_count: int


class ResponseRate(_Model):
    """Replies to requests sent over a window."""

    response_rate_percent: int
    sent_count: int
    delivered_count: int
    reply_count: int


class Site(_Model):
    """A geographical business unit (a shop, a hotel, an office)."""

    site_code: str
    name: str
    city: str | None = None
    region: str | None = None
    country_code: str | None = None
