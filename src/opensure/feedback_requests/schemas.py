"""The feedback request as the API shows it, and the Pydantic models that document it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from opensure.api.timestamps import format as ts

# ---- representation (hot path: plain dicts, no model validation) ----


def to_json(row: Sequence[Any], items: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """The API's JSON for a request row (repository.COLUMNS order) and its items
    ((id, kind, key, value) each); timestamps as the driver or SQLAlchemy returned them."""
    return {
        "id": row[0],
        "email": row[1],
        "state": row[2],
        "first_name": row[3],
        "surname": row[4],
        "survey_id": row[5],
        "email_template_id": row[6],
        "reference": row[7],
        "machine_id": row[8],
        "send_at": ts(row[9]),
        "sent_at": ts(row[10]),
        "created_at": ts(row[11]),
        "updated_at": ts(row[12]),
        "deletion_requested_at": ts(row[13]),
        "not_sent_reason": row[14],
        "delivery_failure": row[15],
        "data": [{"id": i[0], "key": i[2], "value": i[3]} for i in items if i[1] == "data"],
        "query_params": [
            {"id": i[0], "key": i[2], "value": i[3]} for i in items if i[1] == "query_param"
        ],
    }


# ---- documentation models (OpenAPI) ----

Timestamp = str


class DataItemIn(BaseModel):
    """An item of a new request (an ``id`` here is 403: ids are given by the server)."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(max_length=30, examples=["staff_code"])
    value: str = Field(max_length=100, examples=["luke"])


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
    key: str = Field(None, max_length=30, examples=["staff_code"], json_schema_extra=_no_default)  # type: ignore[assignment]
    value: str = Field(None, max_length=100, examples=["luke"], json_schema_extra=_no_default)  # type: ignore[assignment]


class DataItem(BaseModel):
    id: int
    key: str
    value: str


class FeedbackRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=254, examples=["john.smith@example.com"])
    send_at: Timestamp = Field(
        description="ISO 8601. Up to 24 hours in the past means 'send as soon as possible'.",
        examples=["2014-08-20T18:00:00+0100"],
    )
    survey_id: int = Field(examples=[1484])
    email_template_id: int | None = None
    first_name: str | None = Field(None, max_length=100)
    surname: str | None = Field(None, max_length=100)
    reference: str | None = Field(None, max_length=100)
    machine_id: str | None = Field(None, max_length=36)
    data: list[DataItemIn] | None = Field(None, max_length=50)
    query_params: list[DataItemIn] | None = Field(
        None, max_length=50, description="Added to the survey link's query string."
    )


class FeedbackRequestUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str | None = Field(None, max_length=254)
    send_at: Timestamp | None = None
    survey_id: int | None = None
    email_template_id: int | None = None
    first_name: str | None = Field(None, max_length=100)
    surname: str | None = Field(None, max_length=100)
    reference: str | None = Field(None, max_length=100)
    machine_id: str | None = Field(None, max_length=36)
    data: list[DataItemChange] | None = Field(None, max_length=50)
    query_params: list[DataItemChange] | None = Field(None, max_length=50)


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
    data: list[DataItem]
    query_params: list[DataItem]
