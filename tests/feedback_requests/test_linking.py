"""Data keys staff_code, site_code and segment keys link a request to the account's records."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select

from opensure.models import SegmentOption
from tests.api.helpers import create_request
from tests.conftest import Account
from tests.feedback_requests.helpers import (
    add_segment,
    add_site,
    add_staff,
    row,
    segment_links,
)

SEED_DATA = [
    {"key": "staff_code", "value": "luke"},
    {"key": "site_code", "value": "newcastle"},
    {"key": "category", "value": "api-support"},
    {"key": "ticket_date", "value": "20th Aug 2014"},
]


async def patch(account: Account, request_id: int, body: dict[str, Any]) -> dict[str, Any]:
    r = await account.patch(f"/feedback_requests/{request_id}", json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def option_count(app: FastAPI, segment_id: int) -> int:
    t = SegmentOption.__table__
    async with app.state.engine.connect() as conn:
        stmt = select(func.count()).select_from(t).where(t.c.segment_id == segment_id)
        return int((await conn.execute(stmt)).scalar_one())


async def test_seed_data_links_staff_site_and_segment(app: FastAPI, account: Account) -> None:
    staff_id = await add_staff(app, account, "luke", team="Support")
    await add_staff(app, account, "leia")
    site_id = await add_site(app, account, "newcastle")
    await add_site(app, account, "leeds")
    category = await add_segment(app, account, "category")
    await add_segment(app, account, "region")
    created = await create_request(account, data=SEED_DATA)
    stored = await row(app, created["id"])
    assert stored.staff_id == staff_id
    assert stored.site_id == site_id
    assert await segment_links(app, created["id"]) == {(category, "api-support")}
    # The data itself is returned unchanged, linking keys included.
    assert [(d["key"], d["value"]) for d in created["data"]] == [
        (d["key"], d["value"]) for d in SEED_DATA
    ]


async def test_unknown_codes_link_nothing_but_are_kept(app: FastAPI, account: Account) -> None:
    await add_staff(app, account, "luke")
    await add_site(app, account, "newcastle")
    created = await create_request(
        account,
        data=[
            {"key": "staff_code", "value": "nobody"},
            {"key": "site_code", "value": "atlantis"},
            {"key": "category", "value": "x"},
        ],
    )
    stored = await row(app, created["id"])
    assert (stored.staff_id, stored.site_id) == (None, None)
    assert await segment_links(app, created["id"]) == set()
    assert len(created["data"]) == 3


async def test_codes_of_another_account_do_not_link(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    await add_staff(app, other_account, "luke")
    await add_site(app, other_account, "newcastle")
    await add_segment(app, other_account, "category")
    created = await create_request(account, data=SEED_DATA)
    stored = await row(app, created["id"])
    assert (stored.staff_id, stored.site_id) == (None, None)
    assert await segment_links(app, created["id"]) == set()


async def test_same_code_in_two_accounts_links_to_ones_own(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    await add_staff(app, other_account, "luke")
    other_site = await add_site(app, other_account, "newcastle")
    mine_staff = await add_staff(app, account, "luke")
    mine_site = await add_site(app, account, "newcastle")
    created = await create_request(account, data=SEED_DATA)
    stored = await row(app, created["id"])
    assert (stored.staff_id, stored.site_id) == (mine_staff, mine_site)
    assert stored.site_id != other_site


async def test_segment_options_are_shared(app: FastAPI, account: Account) -> None:
    category = await add_segment(app, account, "category")
    channel = await add_segment(app, account, "channel")
    a = await create_request(
        account,
        data=[{"key": "category", "value": "billing"}, {"key": "channel", "value": "phone"}],
    )
    b = await create_request(account, data=[{"key": "category", "value": "billing"}])
    c = await create_request(account, data=[{"key": "category", "value": "returns"}])
    assert await segment_links(app, a["id"]) == {(category, "billing"), (channel, "phone")}
    assert await segment_links(app, b["id"]) == {(category, "billing")}
    assert await segment_links(app, c["id"]) == {(category, "returns")}
    assert await option_count(app, category) == 2
    assert await option_count(app, channel) == 1


async def test_update_relinks_staff_site_and_segment(app: FastAPI, account: Account) -> None:
    luke = await add_staff(app, account, "luke")
    leia = await add_staff(app, account, "leia")
    newcastle = await add_site(app, account, "newcastle")
    leeds = await add_site(app, account, "leeds")
    category = await add_segment(app, account, "category")
    created = await create_request(account, data=SEED_DATA)
    items = {d["key"]: d["id"] for d in created["data"]}
    stored = await row(app, created["id"])
    assert (stored.staff_id, stored.site_id) == (luke, newcastle)

    await patch(
        account,
        created["id"],
        {
            "data": [
                {"id": items["staff_code"], "value": "leia"},
                {"id": items["site_code"], "value": "leeds"},
                {"id": items["category"], "value": "billing"},
            ]
        },
    )
    stored = await row(app, created["id"])
    assert (stored.staff_id, stored.site_id) == (leia, leeds)
    assert await segment_links(app, created["id"]) == {(category, "billing")}

    # An update without data leaves the links alone.
    await patch(account, created["id"], {"first_name": "John"})
    stored = await row(app, created["id"])
    assert (stored.staff_id, stored.site_id) == (leia, leeds)
    assert await segment_links(app, created["id"]) == {(category, "billing")}

    # Pointing at unknown codes unlinks.
    await patch(
        account,
        created["id"],
        {"data": [{"id": items["staff_code"], "value": "ghost"}]},
    )
    stored = await row(app, created["id"])
    assert (stored.staff_id, stored.site_id) == (None, leeds)


async def test_update_adds_links(app: FastAPI, account: Account) -> None:
    luke = await add_staff(app, account, "luke")
    site = await add_site(app, account, "hq")
    region = await add_segment(app, account, "region")
    created = await create_request(account, data=[{"key": "note", "value": "x"}])
    stored = await row(app, created["id"])
    assert (stored.staff_id, stored.site_id) == (None, None)
    await patch(
        account,
        created["id"],
        {
            "data": [
                {"key": "staff_code", "value": "luke"},
                {"key": "site_code", "value": "hq"},
                {"key": "region", "value": "North East"},
            ]
        },
    )
    stored = await row(app, created["id"])
    assert (stored.staff_id, stored.site_id) == (luke, site)
    assert await segment_links(app, created["id"]) == {(region, "North East")}


async def test_renaming_a_data_key_relinks(app: FastAPI, account: Account) -> None:
    luke = await add_staff(app, account, "luke")
    created = await create_request(account, data=[{"key": "agent", "value": "luke"}])
    assert (await row(app, created["id"])).staff_id is None
    item_id = created["data"][0]["id"]
    await patch(account, created["id"], {"data": [{"id": item_id, "key": "staff_code"}]})
    assert (await row(app, created["id"])).staff_id == luke


async def test_query_params_do_not_link(app: FastAPI, account: Account) -> None:
    await add_staff(app, account, "luke")
    await add_segment(app, account, "category")
    created = await create_request(
        account,
        query_params=[{"key": "staff_code", "value": "luke"}, {"key": "category", "value": "x"}],
    )
    assert (await row(app, created["id"])).staff_id is None
    assert await segment_links(app, created["id"]) == set()
