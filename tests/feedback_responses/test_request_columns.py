"""Every field of a feedback request reads back in its own place, wherever the API shows one.

The request is written straight to the database with a distinct value in every column (ids far
apart, five different timestamps), so a column read into its neighbour's field cannot go
unnoticed: GET by id, the list page, and the request embedded in the responses must agree.
"""

from __future__ import annotations

import datetime as dt
import secrets

from fastapi import FastAPI
from sqlalchemy import insert

from opensure.models import EmailTemplate, FeedbackRequest, FeedbackRequestItem, FeedbackResponse
from tests.conftest import Account


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2031, 1, day, hour, day + hour, day * 2, tzinfo=dt.UTC)


async def test_each_column_reads_back_in_its_own_field(app: FastAPI, surveyed: Account) -> None:
    async with app.state.engine.begin() as conn:
        template_id = (
            await conn.execute(
                insert(EmailTemplate.__table__)
                .values(id=700_003, account_id=surveyed.id, name="T", subject="S", body="B")
                .returning(EmailTemplate.__table__.c.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(FeedbackRequest.__table__).values(
                id=900_001,
                account_id=surveyed.id,
                survey_id=surveyed.survey_id,
                email_template_id=template_id,
                email="e-mail@example.com",
                first_name="First",
                surname="Sur",
                reference="Ref",
                machine_id="Machine",
                state="not_sent",
                send_at=at(1, 1),
                sent_at=at(2, 2),
                created_at=at(3, 3),
                updated_at=at(4, 4),
                deletion_requested_at=at(5, 5),
                not_sent_reason="Reason",
                delivery_failure="Failure",
                reminder_sent_at=at(8, 8),
                token=secrets.token_urlsafe(24),
            )
        )
        await conn.execute(
            insert(FeedbackRequestItem.__table__),
            [
                {
                    "id": 800_011,
                    "feedback_request_id": 900_001,
                    "kind": "data",
                    "key": "dk",
                    "value": "dv",
                },
                {
                    "id": 800_012,
                    "feedback_request_id": 900_001,
                    "kind": "query_param",
                    "key": "qk",
                    "value": "qv",
                },
            ],
        )
        await conn.execute(
            insert(FeedbackResponse.__table__).values(
                account_id=surveyed.id,
                survey_id=surveyed.survey_id,
                feedback_request_id=900_001,
                email="e-mail@example.com",
                submitted_at=at(6, 6),
                updated_at=at(7, 7),
            )
        )
    assert surveyed.survey_id not in (900_001, template_id)

    expected = {
        "id": 900_001,
        "email": "e-mail@example.com",
        "state": "not_sent",
        "first_name": "First",
        "surname": "Sur",
        "survey_id": surveyed.survey_id,
        "email_template_id": 700_003,
        "reference": "Ref",
        "machine_id": "Machine",
        "send_at": "2031-01-01T01:02:02Z",
        "sent_at": "2031-01-02T02:04:04Z",
        "created_at": "2031-01-03T03:06:06Z",
        "updated_at": "2031-01-04T04:08:08Z",
        "deletion_requested_at": "2031-01-05T05:10:10Z",
        "not_sent_reason": "Reason",
        "delivery_failure": "Failure",
        "reminder_sent_at": "2031-01-08T08:16:16Z",
        "data": [{"id": 800_011, "key": "dk", "value": "dv"}],
        "query_params": [{"id": 800_012, "key": "qk", "value": "qv"}],
    }
    one = await surveyed.get("/feedback_requests/900001")
    assert one.status_code == 200, one.text
    assert one.json() == expected
    listed = await surveyed.get("/feedback_requests", params={"per_page": 100})
    assert listed.json() == [expected]
    filtered = await surveyed.get(
        "/feedback_requests",
        params={"states[]": "not_sent", "survey_ids[]": str(surveyed.survey_id)},
    )
    assert filtered.json() == [expected]
    (response,) = (await surveyed.get("/feedback_responses")).json()
    assert response["feedback_request"] == expected
    assert response["fields"] == {
        "email": "e-mail@example.com",
        "name": None,
        "telephone_number": None,
        "dk": "dv",
        "qk": "qv",
    }
    by_id = await surveyed.get(f"/feedback_responses/{response['id']}")
    assert by_id.json()["feedback_request"] == expected
