"""PATCH may change site_code: links to requests and responses stay, the old code answers 301."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI
from sqlalchemy import insert, select

from opensure.models import FeedbackRequest, FeedbackResponse
from tests.conftest import BASE, Account
from tests.sites.helpers import JSON_CT, create_site, errors_of, site

requests_t = FeedbackRequest.__table__
responses_t = FeedbackResponse.__table__


async def request_linked_to(account: Account, code: str) -> int:
    body = {
        "email": "kate@example.com",
        "send_at": "2099-01-01T09:00:00Z",
        "survey_id": account.survey_id,
        "data": [{"key": "site_code", "value": code}],
    }
    r = await account.post("/feedback_requests", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def site_ids(app: FastAPI, request_id: int, response_id: int) -> tuple[Any, Any]:
    async with app.state.engine.connect() as conn:
        req = (
            await conn.execute(select(requests_t.c.site_id).where(requests_t.c.id == request_id))
        ).scalar_one()
        resp = (
            await conn.execute(select(responses_t.c.site_id).where(responses_t.c.id == response_id))
        ).scalar_one()
    return req, resp


async def response_linked_to(app: FastAPI, account: Account, request_id: int) -> int:
    """A response to the request, carrying the request's site, written to the database."""
    async with app.state.engine.begin() as conn:
        site_id = (
            await conn.execute(select(requests_t.c.site_id).where(requests_t.c.id == request_id))
        ).scalar_one()
        now = dt.datetime.now(dt.UTC)
        return int(
            (
                await conn.execute(
                    insert(responses_t)
                    .values(
                        account_id=account.id,
                        survey_id=account.survey_id,
                        feedback_request_id=request_id,
                        site_id=site_id,
                        submitted_at=now,
                        updated_at=now,
                    )
                    .returning(responses_t.c.id)
                )
            ).scalar_one()
        )


async def test_rename_keeps_links_and_redirects_the_old_code(
    app: FastAPI, account: Account
) -> None:
    await create_site(account, site_code="old", name="Head Office", city="Leeds")
    request_id = await request_linked_to(account, "old")
    response_id = await response_linked_to(app, account, request_id)
    before = await site_ids(app, request_id, response_id)
    assert before[0] is not None
    assert before == (before[0], before[0])

    r = await account.patch("/sites/old", json={"site_code": "new"})
    assert r.status_code == 200, r.text
    assert r.json() == site("new", "Head Office", city="Leeds")

    assert await site_ids(app, request_id, response_id) == before
    assert (await account.get("/sites/new")).json() == site("new", "Head Office", city="Leeds")

    moved = await account.get("/sites/old")
    assert moved.status_code == 301
    assert moved.headers["location"] == f"{BASE}/sites/new"
    assert moved.headers["content-type"] == JSON_CT
    assert "message" in moved.json()
    # The redirect leads to the site.
    followed = await account.get(moved.headers["location"])
    assert followed.status_code == 200
    assert followed.json()["site_code"] == "new"

    listed = await account.get("/sites")
    assert listed.json() == [site("new", "Head Office", city="Leeds")]

    # A request naming the new code links to the same site.
    later = await request_linked_to(account, "new")
    later_response = await response_linked_to(app, account, later)
    assert await site_ids(app, later, later_response) == before


async def test_rename_and_other_changes_in_one_patch(account: Account) -> None:
    await create_site(account, site_code="a", name="A")
    r = await account.patch(
        "/sites/a",
        json={"site_code": "b", "name": "B", "region": "North", "country_code": "ie"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == site("b", "B", region="North", country_code="IE")
    assert (await account.get("/sites/a")).status_code == 301


async def test_writes_to_the_old_code_redirect_and_change_nothing(account: Account) -> None:
    await create_site(account, site_code="old", name="Kept")
    await account.patch("/sites/old", json={"site_code": "new"})
    r = await account.patch("/sites/old", json={"name": "Changed"})
    assert r.status_code in (307, 308), r.text
    assert r.headers["location"] == f"{BASE}/sites/new"
    r = await account.delete("/sites/old")
    assert r.status_code in (307, 308), r.text
    assert r.headers["location"] == f"{BASE}/sites/new"
    assert (await account.get("/sites/new")).json() == site("new", "Kept")


async def test_a_chain_of_renames_redirects_every_old_code_to_the_current_one(
    account: Account,
) -> None:
    await create_site(account, site_code="one", name="Site")
    assert (await account.patch("/sites/one", json={"site_code": "two"})).status_code == 200
    assert (await account.patch("/sites/two", json={"site_code": "three"})).status_code == 200
    for old in ("one", "two"):
        r = await account.get(f"/sites/{old}")
        assert r.status_code == 301, old
        assert r.headers["location"] == f"{BASE}/sites/three"


async def test_renaming_back_makes_the_code_live_again(account: Account) -> None:
    await create_site(account, site_code="x", name="X")
    await account.patch("/sites/x", json={"site_code": "y"})
    r = await account.patch("/sites/y", json={"site_code": "x"})
    assert r.status_code == 200, r.text
    assert (await account.get("/sites/x")).json() == site("x", "X")
    r = await account.get("/sites/y")
    assert r.status_code == 301
    assert r.headers["location"] == f"{BASE}/sites/x"


async def test_a_new_site_may_take_a_former_code(app: FastAPI, account: Account) -> None:
    await create_site(account, site_code="old", name="Renamed")
    request_id = await request_linked_to(account, "old")
    response_id = await response_linked_to(app, account, request_id)
    before = await site_ids(app, request_id, response_id)
    await account.patch("/sites/old", json={"site_code": "new"})
    r = await account.post("/sites", json={"site_code": "old", "name": "Fresh"})
    assert r.status_code == 201, r.text
    assert (await account.get("/sites/old")).json() == site("old", "Fresh")
    assert (await account.get("/sites/new")).json() == site("new", "Renamed")
    assert await site_ids(app, request_id, response_id) == before
    codes = [s["site_code"] for s in (await account.get("/sites")).json()]
    assert codes == ["old", "new"]
    # The code now belongs to the new site: once that is gone, the code leads nowhere.
    assert (await account.delete("/sites/old")).status_code == 204
    assert (await account.get("/sites/old")).status_code == 404


async def test_patch_keeping_the_same_code_is_not_a_rename(account: Account) -> None:
    await create_site(account, site_code="same", name="Before")
    r = await account.patch("/sites/same", json={"site_code": "same", "name": "After"})
    assert r.status_code == 200, r.text
    assert r.json() == site("same", "After")
    assert (await account.get("/sites/same")).status_code == 200


async def test_rename_to_an_invalid_or_taken_code_changes_nothing(account: Account) -> None:
    await create_site(account, site_code="a", name="A")
    await create_site(account, site_code="b", name="B")
    r = await account.patch("/sites/a", json={"site_code": "b"})
    assert errors_of(r) == [("/sites/a", "site_code", "custom")]
    r = await account.patch("/sites/a", json={"site_code": ""})
    assert errors_of(r) == [("/sites/a", "site_code", "required")]
    r = await account.patch("/sites/a", json={"site_code": "z" * 51})
    assert errors_of(r) == [("/sites/a", "site_code", "wrong_length")]
    assert (await account.get("/sites/a")).json() == site("a", "A")
    assert (await account.get("/sites/b")).json() == site("b", "B")


async def test_old_codes_do_not_leak_to_other_accounts(
    account: Account, other_account: Account
) -> None:
    await create_site(account, site_code="before", name="Mine")
    await account.patch("/sites/before", json={"site_code": "after"})
    assert (await other_account.get("/sites/before")).status_code == 404
    assert (await other_account.get("/sites/after")).status_code == 404
    # The other account can use the code freely.
    r = await other_account.post("/sites", json={"site_code": "before", "name": "Theirs"})
    assert r.status_code == 201, r.text
    assert (await other_account.get("/sites/before")).json() == site("before", "Theirs")
    r = await account.get("/sites/before")
    assert r.status_code == 301
    assert r.headers["location"] == f"{BASE}/sites/after"


async def test_deleting_a_renamed_site_makes_its_old_code_404(account: Account) -> None:
    await create_site(account, site_code="old", name="Gone")
    await account.patch("/sites/old", json={"site_code": "new"})
    assert (await account.delete("/sites/new")).status_code == 204
    assert (await account.get("/sites/new")).status_code == 404
    assert (await account.get("/sites/old")).status_code == 404
    # A later site must not inherit the deleted site's old code.
    await create_site(account, site_code="later", name="Later")
    assert (await account.get("/sites/old")).status_code == 404
