"""Many creates, reads and updates at once: the driver-level hot path (opensure.db.fast) beside
the ORM side, in one process. On SQLite the creates share one writer connection and take
turns; PATCH writes through SQLAlchemy's own connections at the same time."""

from __future__ import annotations

import asyncio

from tests.api.helpers import create_request, request_body
from tests.conftest import Account

CONCURRENT = 40


async def test_concurrent_creates_all_land_once_with_their_own_items(account: Account) -> None:
    async def one(n: int) -> dict[str, object]:
        body = request_body(
            account,
            email=f"c{n}@example.com",
            reference=f"#{n}",
            data=[{"key": "order", "value": f"A{n}"}, {"key": "channel", "value": "web"}],
            query_params=[{"key": "utm", "value": f"u{n}"}],
        )
        r = await account.post("/feedback_requests", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    created = await asyncio.gather(*(one(n) for n in range(CONCURRENT)))
    assert len({c["id"] for c in created}) == CONCURRENT
    for c in created:
        n = str(c["reference"]).lstrip("#")
        assert c["email"] == f"c{n}@example.com"
        assert [(d["key"], d["value"]) for d in c["data"]] == [
            ("order", f"A{n}"),
            ("channel", "web"),
        ]
        assert [(q["key"], q["value"]) for q in c["query_params"]] == [("utm", f"u{n}")]
        got = await account.get(f"/feedback_requests/{c['id']}")
        assert got.status_code == 200
        assert got.json() == c
    listed = await account.get("/feedback_requests", params={"per_page": 100})
    assert listed.headers["X-Total-Count"] == str(CONCURRENT)


async def test_creates_and_updates_interleave_without_lock_errors(account: Account) -> None:
    existing = [await create_request(account, reference=f"old{n}") for n in range(10)]

    async def create(n: int) -> int:
        r = await account.post("/feedback_requests", json=request_body(account, reference=f"n{n}"))
        return r.status_code

    async def update(request_id: int, n: int) -> int:
        r = await account.patch(
            f"/feedback_requests/{request_id}",
            json={"reference": f"upd{n}", "data": [{"key": "k", "value": str(n)}]},
        )
        return r.status_code

    statuses = await asyncio.gather(
        *(create(n) for n in range(20)),
        *(update(e["id"], n) for n, e in enumerate(existing)),
    )
    assert statuses == [201] * 20 + [200] * 10
    for n, e in enumerate(existing):
        got = (await account.get(f"/feedback_requests/{e['id']}")).json()
        assert got["reference"] == f"upd{n}"
        assert [(d["key"], d["value"]) for d in got["data"]] == [("k", str(n))]


async def test_a_rejected_create_leaves_nothing_behind(account: Account) -> None:
    body = request_body(account, survey_id=987654321, data=[{"key": "x", "value": "y"}])
    r = await account.post("/feedback_requests", json=body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "survey_id"
    listed = await account.get("/feedback_requests")
    assert listed.headers["X-Total-Count"] == "0"
