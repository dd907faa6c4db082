"""DELETE /feedback_requests/:id: pending ones go, sent ones lose the customer's personal data."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi import FastAPI

from tests.api.helpers import UTC_FORMAT, create_request
from tests.conftest import Account
from tests.feedback_requests.helpers import (
    add_response,
    item_count,
    response_row,
    row,
    set_state,
)


async def test_delete_pending_removes_it(app: FastAPI, account: Account) -> None:
    created = await create_request(
        account, data=[{"key": "a", "value": "b"}], query_params=[{"key": "q", "value": "1"}]
    )
    keep = await create_request(account)
    r = await account.delete(f"/feedback_requests/{created['id']}")
    assert r.status_code == 204
    assert r.content == b""
    r = await account.get(f"/feedback_requests/{created['id']}")
    assert r.status_code == 404
    assert r.json() == {"message": "Not Found"}
    r = await account.delete(f"/feedback_requests/{created['id']}")
    assert r.status_code == 404
    r = await account.patch(f"/feedback_requests/{created['id']}", json={"first_name": "X"})
    assert r.status_code == 404
    assert [x["id"] for x in (await account.get("/feedback_requests")).json()] == [keep["id"]]
    assert await row(app, created["id"]) is None
    assert await item_count(app, created["id"]) == 0


@pytest.mark.parametrize("state", ["sent", "not_sent"])
async def test_delete_sent_erases_personal_data(app: FastAPI, account: Account, state: str) -> None:
    created = await create_request(
        account,
        email="john.smith@example.com",
        first_name="John",
        surname="Smith",
        reference="#1041",
        machine_id="8736245",
        data=[{"key": "phone", "value": "0123"}, {"key": "category", "value": "x"}],
        query_params=[{"key": "customer", "value": "john"}],
    )
    await set_state(app, created["id"], state)
    before = (await account.get(f"/feedback_requests/{created['id']}")).json()
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    r = await account.delete(f"/feedback_requests/{created['id']}")
    assert r.status_code == 204
    assert r.content == b""
    r = await account.get(f"/feedback_requests/{created['id']}")
    assert r.status_code == 200
    after = r.json()
    assert after["email"] is None
    assert after["first_name"] is None
    assert after["surname"] is None
    assert after["data"] == []
    assert after["query_params"] == []
    assert after["state"] == state
    assert after["sent_at"] == before["sent_at"]
    assert after["survey_id"] == before["survey_id"]
    assert UTC_FORMAT.match(after["deletion_requested_at"])
    requested = dt.datetime.strptime(after["deletion_requested_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert start <= requested.replace(tzinfo=dt.UTC) <= dt.datetime.now(dt.UTC)
    stored = await row(app, created["id"])
    assert (stored.email, stored.first_name, stored.surname) == (None, None, None)
    assert await item_count(app, created["id"]) == 0
    # Still listed (the account keeps its numbers), without personal data.
    listed = (await account.get("/feedback_requests")).json()
    assert [x["id"] for x in listed] == [created["id"]]
    assert listed[0]["email"] is None
    # Still not editable.
    r = await account.patch(f"/feedback_requests/{created['id']}", json={"email": "a@b.co"})
    assert r.status_code == 422


async def test_second_delete_keeps_the_first_time(app: FastAPI, account: Account) -> None:
    created = await create_request(account)
    earlier = dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    await set_state(app, created["id"], "sent", deletion_requested_at=earlier)
    r = await account.delete(f"/feedback_requests/{created['id']}")
    assert r.status_code == 204
    fetched = (await account.get(f"/feedback_requests/{created['id']}")).json()
    assert fetched["deletion_requested_at"] == "2020-01-02T03:04:05Z"
    assert fetched["email"] is None


async def test_delete_sent_erases_the_response_contact_details(
    app: FastAPI, account: Account
) -> None:
    created = await create_request(account)
    await set_state(app, created["id"], "sent")
    response_id = await add_response(app, account, created["id"])
    r = await account.delete(f"/feedback_requests/{created['id']}")
    assert r.status_code == 204
    stored = await response_row(app, response_id)
    assert (stored.email, stored.name, stored.telephone_number) == (None, None, None)
    assert stored.feedback_request_id == created["id"]


@pytest.mark.parametrize("path_id", ["999999999", "abc", "0", "-5", "99999999999999999999"])
async def test_delete_unknown_is_404(account: Account, path_id: str) -> None:
    r = await account.delete(f"/feedback_requests/{path_id}")
    assert r.status_code == 404
    assert r.json() == {"message": "Not Found"}


@pytest.mark.parametrize("state", ["pending", "sent"])
async def test_delete_other_accounts_request_is_404(
    app: FastAPI, account: Account, other_account: Account, state: str
) -> None:
    theirs = await create_request(other_account, first_name="Theirs")
    if state != "pending":
        await set_state(app, theirs["id"], state)
    r = await account.delete(f"/feedback_requests/{theirs['id']}")
    assert r.status_code == 404
    assert r.json() == {"message": "Not Found"}
    fetched = (await other_account.get(f"/feedback_requests/{theirs['id']}")).json()
    assert fetched["first_name"] == "Theirs"
    assert fetched["email"] == "kate@example.com"
    assert fetched["deletion_requested_at"] is None
