"""Idempotency-Key on POST: a retry never schedules a second email (Stripe's convention)."""

from __future__ import annotations

import asyncio
import datetime as dt

from fastapi import FastAPI
from sqlalchemy import func, select, update

from opensure.models import FeedbackRequest, IdempotencyKey
from tests.conftest import Account


def body(account: Account, email: str = "kate@example.com") -> dict[str, object]:
    send_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"email": email, "send_at": send_at, "survey_id": account.survey_id}


async def count_requests(app: FastAPI, account: Account) -> int:
    t = FeedbackRequest.__table__
    async with app.state.engine.connect() as conn:
        stmt = select(func.count()).select_from(t).where(t.c.account_id == account.id)
        return int((await conn.execute(stmt)).scalar_one())


async def test_retry_with_the_same_key_returns_the_first_response(
    app: FastAPI, account: Account
) -> None:
    payload = body(account)
    first = await account.post(
        "/feedback_requests", json=payload, headers={"Idempotency-Key": "k1"}
    )
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await account.post(
        "/feedback_requests", json=payload, headers={"Idempotency-Key": "k1"}
    )
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert await count_requests(app, account) == 1


async def test_same_key_with_another_body_is_a_validation_error(
    app: FastAPI, account: Account
) -> None:
    ok = await account.post(
        "/feedback_requests", json=body(account), headers={"Idempotency-Key": "k"}
    )
    assert ok.status_code == 201
    other = await account.post(
        "/feedback_requests",
        json=body(account, "someone.else@example.com"),
        headers={"Idempotency-Key": "k"},
    )
    assert other.status_code == 422
    [error] = other.json()["errors"]
    assert (error["field"], error["error"]) == ("Idempotency-Key", "custom")
    assert error["extra_info"]["message"]
    assert await count_requests(app, account) == 1


async def test_without_a_key_or_with_new_keys_each_post_creates(
    app: FastAPI, account: Account
) -> None:
    payload = body(account)
    for headers in ({}, {}, {"Idempotency-Key": "a"}, {"Idempotency-Key": "b"}):
        r = await account.post("/feedback_requests", json=payload, headers=headers)
        assert r.status_code == 201
    assert await count_requests(app, account) == 4


async def test_keys_belong_to_one_account(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    mine = await account.post(
        "/feedback_requests", json=body(account), headers={"Idempotency-Key": "x"}
    )
    theirs = await other_account.post(
        "/feedback_requests", json=body(other_account), headers={"Idempotency-Key": "x"}
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotent-replayed" not in theirs.headers


async def test_a_failed_request_does_not_use_up_its_key(app: FastAPI, account: Account) -> None:
    bad = {**body(account), "email": "not an email"}
    r = await account.post("/feedback_requests", json=bad, headers={"Idempotency-Key": "fix-me"})
    assert r.status_code == 422
    r = await account.post(
        "/feedback_requests", json=body(account), headers={"Idempotency-Key": "fix-me"}
    )
    assert r.status_code == 201, r.text
    assert await count_requests(app, account) == 1


async def test_concurrent_retries_create_one_request(app: FastAPI, account: Account) -> None:
    payload = body(account)
    answers = await asyncio.gather(
        *(
            account.post("/feedback_requests", json=payload, headers={"Idempotency-Key": "burst"})
            for _ in range(5)
        )
    )
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["id"] for r in answers}) == 1
    assert await count_requests(app, account) == 1


async def test_keys_are_kept_24_hours(app: FastAPI, account: Account) -> None:
    payload = body(account)
    r = await account.post("/feedback_requests", json=payload, headers={"Idempotency-Key": "old"})
    assert r.status_code == 201
    k = IdempotencyKey.__table__
    async with app.state.engine.begin() as conn:
        await conn.execute(
            update(k)
            .where(k.c.account_id == account.id)
            .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
        )
    r = await account.post("/feedback_requests", json=payload, headers={"Idempotency-Key": "old"})
    assert r.status_code == 201
    assert "idempotent-replayed" not in r.headers
    assert await count_requests(app, account) == 2


async def test_sites_post_is_idempotent_too(account: Account) -> None:
    site = {"site_code": "hq", "name": "Head Office"}
    first = await account.post("/sites", json=site, headers={"Idempotency-Key": "s1"})
    again = await account.post("/sites", json=site, headers={"Idempotency-Key": "s1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    # Without the key the same body is a duplicate code, so the replay really did not create.
    dup = await account.post("/sites", json=site)
    assert dup.status_code == 422


async def test_an_overlong_key_is_refused(account: Account) -> None:
    r = await account.post(
        "/feedback_requests", json=body(account), headers={"Idempotency-Key": "k" * 256}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"
