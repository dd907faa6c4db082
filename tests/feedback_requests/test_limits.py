"""Length limits come from the columns that store the values: the API accepts exactly the
column's length, refuses one more with the CustomerSure error, and documents the same limit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from opensure.models import FeedbackRequest, FeedbackRequestItem
from opensure.models.feedback import max_length
from tests.conftest import Account

fr = FeedbackRequest.__table__.c
item = FeedbackRequestItem.__table__.c
SEND_AT = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def body(account: Account, **fields: Any) -> dict[str, Any]:
    return {
        "email": "kate@example.com",
        "send_at": SEND_AT,
        "survey_id": account.survey_id,
        **fields,
    }


def email_of(length: int) -> str:
    domain = "@example.com"
    return "k" * (length - len(domain)) + domain


CASES = [
    ("first_name", fr.first_name, lambda n: {"first_name": "a" * n}),
    ("surname", fr.surname, lambda n: {"surname": "a" * n}),
    ("reference", fr.reference, lambda n: {"reference": "a" * n}),
    ("machine_id", fr.machine_id, lambda n: {"machine_id": "a" * n}),
    ("data.key", item.key, lambda n: {"data": [{"key": "k" * n, "value": "v"}]}),
    ("data.value", item.value, lambda n: {"data": [{"key": "k", "value": "v" * n}]}),
]


@pytest.mark.parametrize(("field", "column", "fields"), CASES, ids=[c[0] for c in CASES])
async def test_a_field_holds_exactly_its_column(
    account: Account, field: str, column: Any, fields: Any
) -> None:
    limit = max_length(column)
    ok = await account.post("/feedback_requests", json=body(account, **fields(limit)))
    assert ok.status_code == 201, ok.text
    too_long = await account.post("/feedback_requests", json=body(account, **fields(limit + 1)))
    assert too_long.status_code == 422
    (error,) = too_long.json()["errors"]
    assert error["error"] == "wrong_length"
    assert error["extra_info"]["maximum"] == str(limit)
    assert error["field"].startswith(field.split(".")[0])


async def test_email_holds_exactly_its_column(account: Account) -> None:
    limit = max_length(fr.email)
    too_long = await account.post(
        "/feedback_requests", json=body(account, email=email_of(limit + 1))
    )
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["extra_info"]["maximum"] == str(limit)


async def test_the_reference_documents_the_column_lengths(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()["components"]["schemas"]
    create = spec["FeedbackRequestCreate"]["properties"]
    assert create["email"]["maxLength"] == max_length(fr.email)
    for name in ("first_name", "surname", "reference", "machine_id"):
        documented = create[name].get("maxLength") or next(
            s["maxLength"] for s in create[name]["anyOf"] if "maxLength" in s
        )
        assert documented == max_length(fr[name]), name
    item_schema = spec["DataItemIn"]["properties"]
    assert item_schema["key"]["maxLength"] == max_length(item.key)
    assert item_schema["value"]["maxLength"] == max_length(item.value)
