"""SPEC §3 timestamps: the ISO 8601 forms accepted in, UTC ``YYYY-MM-DDTHH:MM:SSZ`` out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from opensure.models import FeedbackRequest
from tests.api.helpers import UTC_FORMAT, create_request, iso, request_body
from tests.conftest import Account

Y = dt.date.today().year + 1


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (f"{Y}-03-04T10:20:30Z", f"{Y}-03-04T10:20:30Z"),
        (f"{Y}-03-04T10:20:30+00:00", f"{Y}-03-04T10:20:30Z"),
        (f"{Y}-03-04T10:20:30+01:00", f"{Y}-03-04T09:20:30Z"),
        (f"{Y}-03-04T10:20:30+0100", f"{Y}-03-04T09:20:30Z"),
        (f"{Y}-03-04T10:20:30-0530", f"{Y}-03-04T15:50:30Z"),
        (f"{Y}-03-04T10:20:30-05:30", f"{Y}-03-04T15:50:30Z"),
        (f"{Y}-03-04T10:20:30", f"{Y}-03-04T10:20:30Z"),
        (f"{Y}-03-04T10:20Z", f"{Y}-03-04T10:20:00Z"),
        (f"{Y}-03-04T10:20+01:00", f"{Y}-03-04T09:20:00Z"),
        (f"{Y}-03-04T10:20", f"{Y}-03-04T10:20:00Z"),
        (f"{Y}-03-04", f"{Y}-03-04T00:00:00Z"),
        (f"{Y}-03-04T10:20:30.123Z", f"{Y}-03-04T10:20:30Z"),
        (f"{Y}-03-04T10:20:30.5+01:00", f"{Y}-03-04T09:20:30Z"),
        (f"{Y}-03-04T10:20:30.123456789", f"{Y}-03-04T10:20:30Z"),
        (f"{Y}-03-04T00:30:00+0100", f"{Y}-03-03T23:30:00Z"),
        (f"{Y}-12-31T23:30:00-01:00", f"{Y + 1}-01-01T00:30:00Z"),
    ],
)
async def test_send_at_forms(account: Account, given: str, expected: str) -> None:
    created = await create_request(account, send_at=given)
    assert created["send_at"] == expected
    fetched = (await account.get(f"/feedback_requests/{created['id']}")).json()
    assert fetched["send_at"] == expected


@pytest.mark.parametrize(
    "given",
    [
        "tomorrow",
        "next tuesday",
        f"{Y}-13-01",
        f"{Y}-02-30",
        f"{Y}-00-10",
        f"{Y}-01-01T25:00Z",
        f"{Y}-01-01T24:00:00",
        f"{Y}-01-01T10:60Z",
        f"{Y}-01-01T10:00:61Z",
        f"{Y}-01-01T10:00:00+25:00",
        f"{Y}-01-01T10:00:00+0199",
        f"01/02/{Y}",
        f"{Y}/01/02",
        f"{Y}-1-2",
        f"{Y}-01-01T10",
        f"{Y}-01-01T10:00:00ZZ",
        f"{Y}-01-01T10:00:00 UTC",
        f"{Y}-01-01Tnoon",
        1893456000,
        1893456000.5,
        True,
        [f"{Y}-01-01"],
        {"date": f"{Y}-01-01"},
    ],
)
async def test_bad_dates_are_invalid_date(account: Account, given: Any) -> None:
    r = await account.post("/feedback_requests", json=request_body(account, send_at=given))
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert [(e["field"], e["error"]) for e in errors] == [("send_at", "invalid_date")]
    assert errors[0]["resource"] == "/feedback_requests/"


async def test_bad_date_on_update(account: Account) -> None:
    created = await create_request(account)
    r = await account.patch(f"/feedback_requests/{created['id']}", json={"send_at": "soon"})
    assert r.status_code == 422
    assert [(e["field"], e["error"]) for e in r.json()["errors"]] == [("send_at", "invalid_date")]


async def test_update_converts_to_utc(account: Account) -> None:
    created = await create_request(account)
    r = await account.patch(
        f"/feedback_requests/{created['id']}", json={"send_at": f"{Y}-07-01T12:00:00+0200"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["send_at"] == f"{Y}-07-01T10:00:00Z"


async def test_all_output_timestamps_are_utc_seconds(app: FastAPI, account: Account) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    created = await create_request(account)
    after = dt.datetime.now(dt.UTC)
    for name in ("send_at", "created_at", "updated_at"):
        assert UTC_FORMAT.match(created[name]), (name, created[name])
    created_at = dt.datetime.strptime(created["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.UTC
    )
    assert before <= created_at <= after
    assert created["sent_at"] is None
    assert created["deletion_requested_at"] is None
    # Set sent_at with microseconds and a non-UTC offset in the database: still shown as UTC.
    sent = dt.datetime(Y, 5, 6, 7, 8, 9, 987654, tzinfo=dt.timezone(dt.timedelta(hours=-3)))
    t = FeedbackRequest.__table__
    async with app.state.engine.begin() as conn:
        await conn.execute(
            update(t).where(t.c.id == created["id"]).values(state="sent", sent_at=sent)
        )
    fetched = (await account.get(f"/feedback_requests/{created['id']}")).json()
    assert fetched["sent_at"] == f"{Y}-05-06T10:08:09Z"
    listed = (await account.get("/feedback_requests")).json()
    assert listed[0]["sent_at"] == f"{Y}-05-06T10:08:09Z"


async def test_send_at_round_trips(account: Account) -> None:
    moment = dt.datetime(Y, 8, 20, 17, 0, 0, tzinfo=dt.UTC)
    created = await create_request(account, send_at=iso(moment))
    assert created["send_at"] == iso(moment)
