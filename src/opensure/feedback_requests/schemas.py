"""The feedback request as the API shows it, and the Pydantic models that document it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from opensure.api.timestamps import format as ts
from opensure.feedback_requests.repository import ItemRow, RequestRow
from opensure.models.feedback import (
    EMAIL_MAX,
    ITEM_KEY_MAX,
    ITEM_VALUE_MAX,
    ITEMS_MAX,
    REQUEST_TEXT_MAX,
)

# ---- representation (hot path: plain dicts, no model validation) ----


def to_json(row: RequestRow, items: Sequence[ItemRow]) -> dict[str, Any]:
    """The API's JSON for a request and its items; timestamps as the driver returned them."""
    return {
        "id": row.id,
        "email": row.email,
        "state": row.state,
        "first_name": row.first_name,
        "surname": row.surname,
        "survey_id": row.survey_id,
        "email_template_id": row.email_template_id,
        "reference": row.reference,
        "machine_id": row.machine_id,
        "send_at": ts(row.send_at),
        "sent_at": ts(row.sent_at),
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
        "deletion_requested_at": ts(row.deletion_requested_at),
        "not_sent_reason": row.not_sent_reason,
        "delivery_failure": row.delivery_failure,
        "reminder_sent_at": ts(row.reminder_sent_at),
        "data": [{"id": i.id, "key": i.key, "value": i.value} for i in items if i.kind == "data"],
        "query_params": [
            {"id": i.id, "key": i.key, "value": i.value} for i in items if i.kind == "query_param"
        ],
    }


# ---- documentation models (OpenAPI) ----

Timestamp = str


class DataItemIn(BaseModel):
    """An item of a new request (an ``id`` here is 403: ids are given by the server)."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(max_length=ITEM_KEY_MAX, examples=["staff_code"])
    value: str = Field(max_length=ITEM_VALUE_MAX, examples=["luke"])


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class DataItemChange(BaseModel):
    """On update: with ``id`` the item to change (``key`` and ``value`` optional), without one
    an item to add (both required)."""

    model_config = ConfigDict(extra="forbid")
    # Optional, but never null: the documented types are what the endpoint accepts.
    id: int = Field(
        None,  # type: ignore[assignment]
        ge=1,
        description="The item to change. Omit to add an item.",
        json_schema_extra=_no_default,
    )
    key: str = Field(
        None, max_length=ITEM_KEY_MAX, examples=["staff_code"], json_schema_extra=_no_default
    )  # type: ignore[assignment]
    value: str = Field(
        None, max_length=ITEM_VALUE_MAX, examples=["luke"], json_schema_extra=_no_default
    )  # type: ignore[assignment]


class DataItem(BaseModel):
    id: int
    key: str
    value: str


class FeedbackRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=EMAIL_MAX, examples=["john.smith@example.com"])
    send_at: Timestamp = Field(
        description="ISO 8601. Up to 24 hours in the past means 'send as soon as possible'.",
        examples=["2014-08-20T18:00:00+0100"],
    )
    survey_id: int = Field(examples=[1484])
    email_template_id: int | None = None
    first_name: str | None = Field(None, max_length=REQUEST_TEXT_MAX["first_name"])
    surname: str | None = Field(None, max_length=REQUEST_TEXT_MAX["surname"])
    reference: str | None = Field(None, max_length=REQUEST_TEXT_MAX["reference"])
    machine_id: str | None = Field(None, max_length=REQUEST_TEXT_MAX["machine_id"])
    data: list[DataItemIn] | None = Field(None, max_length=ITEMS_MAX)
    query_params: list[DataItemIn] | None = Field(
        None, max_length=ITEMS_MAX, description="Added to the survey link's query string."
    )


class FeedbackRequestUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str | None = Field(None, max_length=EMAIL_MAX)
    send_at: Timestamp | None = None
    survey_id: int | None = None
    email_template_id: int | None = None
    first_name: str | None = Field(None, max_length=REQUEST_TEXT_MAX["first_name"])
    surname: str | None = Field(None, max_length=REQUEST_TEXT_MAX["surname"])
    reference: str | None = Field(None, max_length=REQUEST_TEXT_MAX["reference"])
    machine_id: str | None = Field(None, max_length=REQUEST_TEXT_MAX["machine_id"])
    data: list[DataItemChange] | None = Field(None, max_length=ITEMS_MAX)
    query_params: list[DataItemChange] | None = Field(None, max_length=ITEMS_MAX)


class FeedbackRequestRead(BaseModel):
    id: int
    email: str | None
    state: Literal["pending", "sent", "not_sent"]
    first_name: str | None
    surname: str | None
    survey_id: int
    email_template_id: int | None
    reference: str | None
    machine_id: str | None
    send_at: Timestamp
    sent_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp
    deletion_requested_at: Timestamp | None
    not_sent_reason: str | None
    delivery_failure: str | None
    reminder_sent_at: Timestamp | None = Field(
        description="When the request's one reminder e-mail was sent; null unless it was."
    )
    data: list[DataItem]
    query_params: list[DataItem]
