from __future__ import annotations

import datetime as dt

from tests.conftest import Account


async def test_create_and_get(account: Account) -> None:
    send_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S+0100")
    r = await account.post(
        "/feedback_requests",
        json={
            "email": "john.smith@example.com",
            "send_at": send_at,
            "survey_id": account.survey_id,
            "first_name": "John",
            "data": [{"key": "staff_code", "value": "luke"}],
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    r2 = await account.get(f"/feedback_requests/{body['id']}")
    assert r2.status_code == 200
    assert r2.json() == body
    r3 = await account.get("/feedback_requests")
    assert r3.status_code == 200, r3.text
    assert r3.json() == [body]
    print(r3.headers)
