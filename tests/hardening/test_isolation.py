"""Tenant isolation: account B using account A's ids and codes gets 404 on every endpoint and
verb, A's objects are unchanged afterwards, and B's lists and metrics never include A's data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.conftest import Account

FUTURE = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def seed(a: Account) -> dict[str, Any]:
    r = await a.post(
        "/feedback_requests",
        json={
            "email": "a-customer@example.com",
            "send_at": FUTURE,
            "survey_id": a.survey_id,
            "data": [{"key": "site_code", "value": "a-site"}],
        },
    )
    assert r.status_code == 201, r.text
    s = await a.post("/sites", json={"site_code": "a-site", "name": "A's site"})
    assert s.status_code == 201, s.text
    return {"request": r.json(), "site": s.json()}


def attempts(req_id: int, survey_id: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", f"/feedback_requests/{req_id}", None),
        ("PATCH", f"/feedback_requests/{req_id}", {"first_name": "Mallory"}),
        ("DELETE", f"/feedback_requests/{req_id}", None),
        ("GET", "/feedback_responses/1", None),
        ("GET", "/sites/a-site", None),
        ("PATCH", "/sites/a-site", {"name": "Taken over"}),
        ("DELETE", "/sites/a-site", None),
    ]


async def test_other_accounts_objects_are_404_and_untouched(
    account: Account, other_account: Account
) -> None:
    mine = await seed(account)
    req_id = mine["request"]["id"]
    for method, path, body in attempts(req_id, account.survey_id):
        r = await other_account.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.json() == {"message": "Not Found"}
    assert (await account.get(f"/feedback_requests/{req_id}")).json() == mine["request"]
    assert (await account.get("/sites/a-site")).json() == mine["site"]


async def test_put_on_another_accounts_code_creates_its_own_site(
    account: Account, other_account: Account
) -> None:
    mine = await seed(account)
    r = await other_account.put("/sites/a-site", json={"name": "B's own"})
    assert r.status_code == 201
    assert (await account.get("/sites/a-site")).json() == mine["site"]


async def test_ids_of_another_account_are_invalid_references(
    account: Account, other_account: Account
) -> None:
    r = await other_account.post(
        "/feedback_requests",
        json={"email": "b@example.com", "send_at": FUTURE, "survey_id": account.survey_id},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "survey_id"
    for path in (
        f"/response_rate?survey_ids[]={account.survey_id}",
        f"/nps?question_ids[]={account.survey['questions'][0]['id']}",
    ):
        r = await other_account.get(path)
        assert r.status_code == 422, path


@pytest.mark.parametrize("path", ["/feedback_requests", "/feedback_responses", "/sites"])
async def test_lists_never_include_another_accounts_data(
    account: Account, other_account: Account, path: str
) -> None:
    await seed(account)
    r = await other_account.get(path)
    assert r.status_code == 200
    assert r.json() == []
    assert r.headers["x-total-count"] == "0"


async def test_metrics_never_include_another_accounts_data(
    account: Account, other_account: Account
) -> None:
    await seed(account)
    assert (await other_account.get("/response_rate")).json()["sent_count"] == 0
    assert (await other_account.get("/nps")).json()["net_promoter_score"] is None


async def test_a_survey_link_token_only_opens_its_own_survey(
    account: Account, other_account: Account
) -> None:
    from sqlalchemy import select

    from opensure.models import FeedbackRequest

    mine = await seed(account)
    t = FeedbackRequest.__table__
    app = account.client._transport.app  # type: ignore[attr-defined]
    async with app.state.engine.connect() as conn:
        token = (
            await conn.execute(select(t.c.token).where(t.c.id == mine["request"]["id"]))
        ).scalar_one()
    # B's survey page with A's request token: not a valid link.
    r = await other_account.client.get(f"/s/{other_account.survey['code']}?t={token}")
    assert r.status_code == 404
    assert "text/html" in r.headers["content-type"]
    r = await other_account.client.get(f"/s/{account.survey['code']}?t={token}x")
    assert r.status_code == 404
