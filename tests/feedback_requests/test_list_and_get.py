"""GET /feedback_requests (filters, order, pagination) and GET /feedback_requests/:id."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI

from tests.api.helpers import create_request, iso
from tests.conftest import Account
from tests.feedback_requests.helpers import add_survey, set_state

Y = dt.date.today().year + 1


def ids(r: Any) -> list[int]:
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()]


# ---- retrieve --------------------------------------------------------------------------------


async def test_get_returns_the_full_object(account: Account) -> None:
    created = await create_request(
        account,
        first_name="John",
        data=[{"key": "a", "value": "b"}],
        query_params=[{"key": "q", "value": "r"}],
    )
    r = await account.get(f"/feedback_requests/{created['id']}")
    assert r.status_code == 200
    assert r.json() == created


@pytest.mark.parametrize(
    "path_id", ["999999999", "abc", "0", "-1", "1.0", "1e3", "99999999999999999999", "%20"]
)
async def test_get_unknown_is_404(account: Account, path_id: str) -> None:
    r = await account.get(f"/feedback_requests/{path_id}")
    assert r.status_code == 404
    assert r.json() == {"message": "Not Found"}


async def test_get_other_accounts_request_is_404(account: Account, other_account: Account) -> None:
    theirs = await create_request(other_account)
    r = await account.get(f"/feedback_requests/{theirs['id']}")
    assert r.status_code == 404
    assert r.json() == {"message": "Not Found"}
    assert (await other_account.get(f"/feedback_requests/{theirs['id']}")).status_code == 200


# ---- list ------------------------------------------------------------------------------------


async def test_list_is_newest_send_at_first(account: Account) -> None:
    day2 = await create_request(account, send_at=f"{Y}-01-02T00:00:00Z")
    day3 = await create_request(account, send_at=f"{Y}-01-03T00:00:00Z")
    day1 = await create_request(account, send_at=f"{Y}-01-01T00:00:00Z")
    # +01:00 makes this one 23:30 UTC on day 2, between day2 and day3.
    late2 = await create_request(account, send_at=f"{Y}-01-03T00:30:00+01:00")
    r = await account.get("/feedback_requests")
    assert ids(r) == [day3["id"], late2["id"], day2["id"], day1["id"]]
    assert r.headers["x-total-count"] == "4"


async def test_list_shows_whole_objects(account: Account) -> None:
    a = await create_request(
        account, send_at=f"{Y}-01-01T00:00:00Z", data=[{"key": "k", "value": "1"}]
    )
    b = await create_request(
        account, send_at=f"{Y}-01-02T00:00:00Z", query_params=[{"key": "q", "value": "2"}]
    )
    listed = (await account.get("/feedback_requests")).json()
    assert listed == [b, a]


async def test_list_reflects_updates(account: Account) -> None:
    a = await create_request(account, send_at=f"{Y}-01-01T00:00:00Z")
    b = await create_request(account, send_at=f"{Y}-01-02T00:00:00Z")
    assert ids(await account.get("/feedback_requests")) == [b["id"], a["id"]]
    r = await account.patch(f"/feedback_requests/{a['id']}", json={"send_at": f"{Y}-02-01"})
    assert r.status_code == 200
    assert ids(await account.get("/feedback_requests")) == [a["id"], b["id"]]


@pytest.fixture
async def by_state(app: FastAPI, account: Account) -> dict[str, int]:
    out = {}
    for day, state in enumerate(("pending", "sent", "not_sent"), start=1):
        created = await create_request(account, send_at=f"{Y}-01-0{day}T00:00:00Z")
        if state != "pending":
            await set_state(app, created["id"], state)
        out[state] = created["id"]
    return out


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["not_sent", "sent", "pending"]),
        ("states[]=pending", ["pending"]),
        ("states[]=sent", ["sent"]),
        ("states[]=not_sent&states[]=pending", ["not_sent", "pending"]),
        ("states[]=pending&states[]=sent&states[]=not_sent", ["not_sent", "sent", "pending"]),
        ("state=pending", ["pending"]),
        ("state=sent", ["sent"]),
        ("state=not_sent", ["not_sent"]),
    ],
)
async def test_state_filters(
    account: Account, by_state: dict[str, int], query: str, expected: list[str]
) -> None:
    r = await account.get(f"/feedback_requests?{query}")
    assert ids(r) == [by_state[s] for s in expected]
    assert r.headers["x-total-count"] == str(len(expected))


async def test_empty_states_filters_nothing(account: Account, by_state: dict[str, int]) -> None:
    r = await account.get("/feedback_requests?states=")
    assert sorted(ids(r)) == sorted(by_state.values())


@pytest.mark.parametrize(
    "query", ["states[]=bogus", "states[]=pending&states[]=Sent", "state=queued", "states=all"]
)
async def test_unknown_state_is_422(account: Account, query: str) -> None:
    r = await account.get(f"/feedback_requests?{query}")
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert [(e["field"], e["error"]) for e in errors] == [("states", "invalid_value")]
    assert errors[0]["resource"] == "/feedback_requests/"
    assert sorted(errors[0]["extra_info"]["allowed_values"]) == ["not_sent", "pending", "sent"]


async def test_survey_filter(app: FastAPI, account: Account, other_account: Account) -> None:
    second = await add_survey(app, account)
    third = await add_survey(app, account)
    a = await create_request(account, send_at=f"{Y}-01-01T00:00:00Z")
    b = await create_request(account, send_at=f"{Y}-01-02T00:00:00Z", survey_id=second)
    c = await create_request(account, send_at=f"{Y}-01-03T00:00:00Z", survey_id=third)
    first = account.survey_id
    assert ids(await account.get(f"/feedback_requests?survey_ids[]={first}")) == [a["id"]]
    assert ids(await account.get(f"/feedback_requests?survey_ids[]={second}")) == [b["id"]]
    assert ids(
        await account.get(f"/feedback_requests?survey_ids[]={first}&survey_ids[]={third}")
    ) == [c["id"], a["id"]]
    assert ids(await account.get(f"/feedback_requests?survey_ids={second},{third}")) == [
        c["id"],
        b["id"],
    ]
    assert ids(await account.get(f"/feedback_requests?survey_ids={first}&survey_ids={second}")) == [
        b["id"],
        a["id"],
    ]
    # Another account's survey: nothing, not an error.
    r = await account.get(f"/feedback_requests?survey_ids[]={other_account.survey_id}")
    assert ids(r) == []


async def test_survey_and_state_filters_combine(
    app: FastAPI, account: Account, by_state: dict[str, int]
) -> None:
    second = await add_survey(app, account)
    other = await create_request(account, survey_id=second)
    await set_state(app, other["id"], "sent")
    r = await account.get(f"/feedback_requests?states[]=sent&survey_ids[]={second}")
    assert ids(r) == [other["id"]]
    r = await account.get(f"/feedback_requests?state=sent&survey_ids[]={account.survey_id}")
    assert ids(r) == [by_state["sent"]]


@pytest.mark.parametrize("value", ["abc", "1.5", "0", "-2", "1,x", "99999999999999999999999"])
async def test_non_integer_survey_ids_are_422(account: Account, value: str) -> None:
    r = await account.get(f"/feedback_requests?survey_ids[]={value}")
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert [(e["field"], e["error"]) for e in errors] == [("survey_ids", "invalid_value")]
    assert errors[0]["resource"] == "/feedback_requests/"


async def test_list_never_shows_other_accounts(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    mine = await create_request(account)
    theirs = [await create_request(other_account) for _ in range(3)]
    await set_state(app, theirs[0]["id"], "sent")
    r = await account.get("/feedback_requests")
    assert ids(r) == [mine["id"]]
    assert r.headers["x-total-count"] == "1"
    assert ids(await account.get("/feedback_requests?states[]=sent")) == []
    r = await account.get(f"/feedback_requests?survey_ids[]={other_account.survey_id}")
    assert ids(r) == []
    r = await other_account.get("/feedback_requests?per_page=100")
    assert sorted(ids(r)) == sorted(t["id"] for t in theirs)


async def test_list_pagination_with_filter(app: FastAPI, account: Account) -> None:
    start = dt.datetime(Y, 3, 1, tzinfo=dt.UTC)
    created = []
    for i in range(7):
        created.append(await create_request(account, send_at=iso(start + dt.timedelta(hours=i))))
    for c in created[:2]:
        await set_state(app, c["id"], "sent")
    pending = [c["id"] for c in reversed(created[2:])]
    r = await account.get("/feedback_requests?states[]=pending&per_page=2")
    assert ids(r) == pending[:2]
    assert r.headers["x-total-count"] == "5"
    assert r.headers["x-total-pages"] == "3"
    r = await account.get("/feedback_requests?states[]=pending&per_page=2&page=3")
    assert ids(r) == pending[4:]
    r = await account.get("/feedback_requests?states[]=pending&per_page=2&page=4")
    assert ids(r) == []


async def test_list_rejects_unknown_query_parameters(account: Account) -> None:
    r = await account.get("/feedback_requests?email=kate@example.com")
    assert r.status_code == 403
    assert "email" in r.json()["message"]
