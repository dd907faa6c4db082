"""Erasure reaches the Idempotency-Key store, and expired keys are swept on a schedule.

A create sent with an ``Idempotency-Key`` stores its response (e-mail, names, data) for 24
hours. Deleting the request must not leave that copy behind: a replay afterwards answers what
a GET answers (the erased request, or a 404 for a removed pending one), creates nothing, and
the stored row holds no personal data. Expired keys go by the housekeeping task that runs
wherever a dispatcher runs, not only when traffic happens to come by.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select, update

from opensure.accounts import service as admin
from opensure.app import create_app
from opensure.config import Settings
from opensure.db import create_engine
from opensure.db.migrate import downgrade, upgrade
from opensure.dispatch import housekeeping
from opensure.dispatch.housekeeping import Housekeeping
from opensure.feedback_requests import service
from opensure.models import IdempotencyKey
from tests.conftest import Account
from tests.feedback_requests.helpers import set_state
from tests.fixtures.databases import fresh_database
from tests.hardening.test_idempotency import count_requests

k = IdempotencyKey.__table__
EMAIL = "kate.erasable@example.com"
PERSONAL = (EMAIL, "Kateryna", "Zelenko-Erasable", "secret-order-77")


# Once per run: a replay must send the very same body, even when a second ticks in between.
SEND_AT = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def payload(account: Account) -> dict[str, Any]:
    send_at = SEND_AT
    return {
        "email": EMAIL,
        "first_name": "Kateryna",
        "surname": "Zelenko-Erasable",
        "send_at": send_at,
        "survey_id": account.survey_id,
        "data": [{"key": "order", "value": "secret-order-77"}],
    }


async def stored(app: FastAPI, account: Account) -> dict[str, Any]:
    """The account's idempotency rows by key: (status, body, location, linked request)."""
    stmt = select(k.c.key, k.c.status_code, k.c.body, k.c.location, k.c.feedback_request_id)
    async with app.state.engine.connect() as conn:
        rows = await conn.execute(stmt.where(k.c.account_id == account.id))
        return {r.key: tuple(r[1:]) for r in rows}


def assert_no_personal_data(text: str) -> None:
    for value in PERSONAL:
        assert value not in text, f"{value!r} is still in {text!r}"


async def create(account: Account, key: str) -> Any:
    r = await account.post(
        "/feedback_requests", json=payload(account), headers={"Idempotency-Key": key}
    )
    assert r.status_code == 201, r.text
    assert r.json()["email"] == EMAIL
    return r


@pytest.mark.parametrize("state", ["sent", "not_sent"])
async def test_replay_after_erasure_returns_the_erased_request_and_creates_nothing(
    app: FastAPI, account: Account, state: str
) -> None:
    first = await create(account, "erase-me")
    request_id = first.json()["id"]
    # The key is linked to the request it created.
    assert (await stored(app, account))["erase-me"][3] == request_id
    await set_state(app, request_id, state)
    assert (await account.delete(f"/feedback_requests/{request_id}")).status_code == 204

    again = await account.post(
        "/feedback_requests", json=payload(account), headers={"Idempotency-Key": "erase-me"}
    )
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert_no_personal_data(again.text)
    replayed = again.json()
    assert replayed["id"] == request_id
    assert (replayed["email"], replayed["first_name"], replayed["surname"]) == (None, None, None)
    assert replayed["data"] == []
    assert replayed["state"] == state
    # The replay is what a GET answers now; nothing was created again.
    got = await account.get(f"/feedback_requests/{request_id}")
    assert replayed == got.json()
    assert await count_requests(app, account) == 1
    # Nor is anything personal left in the table.
    status, body, location, linked = (await stored(app, account))["erase-me"]
    assert (status, location, linked) == (201, first.headers["location"], request_id)
    assert_no_personal_data(body)


async def test_replay_after_deleting_a_pending_request_is_a_404_and_creates_nothing(
    app: FastAPI, account: Account
) -> None:
    first = await create(account, "remove-me")
    request_id = first.json()["id"]
    assert (await account.delete(f"/feedback_requests/{request_id}")).status_code == 204

    again = await account.post(
        "/feedback_requests", json=payload(account), headers={"Idempotency-Key": "remove-me"}
    )
    assert again.status_code == 404, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert "location" not in again.headers
    # The API's error format, as a GET of the deleted request answers.
    got = await account.get(f"/feedback_requests/{request_id}")
    assert got.status_code == 404
    assert again.json() == got.json() == {"message": "Not Found"}
    assert await count_requests(app, account) == 0
    status, body, location, linked = (await stored(app, account))["remove-me"]
    assert (status, location, linked) == (404, None, None)
    assert_no_personal_data(body)
    # The key still guards its body: another request with it is refused, as before.
    other = await account.post(
        "/feedback_requests",
        json={**payload(account), "email": "someone.else@example.com"},
        headers={"Idempotency-Key": "remove-me"},
    )
    assert other.status_code == 422
    # A new key creates as usual.
    await create(account, "a-new-key")
    assert await count_requests(app, account) == 1


async def test_other_keys_and_accounts_are_untouched(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    erased = await create(account, "one")
    kept = await create(account, "two")
    theirs = await create(other_account, "one")
    await set_state(app, erased.json()["id"], "sent")
    assert (await account.delete(f"/feedback_requests/{erased.json()['id']}")).status_code == 204
    for who, key, first in ((account, "two", kept), (other_account, "one", theirs)):
        again = await who.post(
            "/feedback_requests", json=payload(who), headers={"Idempotency-Key": key}
        )
        assert again.status_code == 201
        assert again.json() == first.json()


async def test_a_rolled_back_erasure_leaves_the_stored_response(
    app: FastAPI, account: Account
) -> None:
    first = await create(account, "rollback")
    request_id = first.json()["id"]
    await set_state(app, request_id, "sent")
    before = await stored(app, account)

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with app.state.engine.begin() as conn:
            await service.delete(conn=conn, account_id=account.id, request_id=request_id)
            raise Abort
    assert await stored(app, account) == before
    got = await account.get(f"/feedback_requests/{request_id}")
    assert got.json()["email"] == EMAIL


# ---- the sweep of expired keys ----


async def age(app: FastAPI, account: Account, keys: list[str], hours: float) -> None:
    async with app.state.engine.begin() as conn:
        await conn.execute(
            update(k)
            .where(k.c.account_id == account.id, k.c.key.in_(keys))
            .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours))
        )


async def until(condition: Any, seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.02)):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_housekeeping_sweeps_expired_keys_in_chunks_and_keeps_fresh_ones(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    old = [f"old-{n}" for n in range(5)]
    for key in [*old, "fresh", "almost-a-day"]:
        await create(account, key)
    await create(other_account, "theirs-old")
    await age(app, account, old, 25)
    await age(app, account, ["almost-a-day"], 23)
    await age(app, other_account, ["theirs-old"], 48)

    keeper = Housekeeping(app.state.engine, interval=0.05, first_delay=0, chunk=2)
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    try:
        await until(lambda: _swept(keeper, 2))
    finally:
        stop.set()
        await task
    assert set(await stored(app, account)) == {"fresh", "almost-a-day"}
    assert await stored(app, other_account) == {}
    # The requests themselves stay; only the keys went. An expired key may be used again.
    assert await count_requests(app, account) == 7
    r = await account.post(
        "/feedback_requests", json=payload(account), headers={"Idempotency-Key": "old-0"}
    )
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers


async def _swept(keeper: Housekeeping, times: int) -> bool:
    return keeper.sweeps >= times


async def test_the_sweep_uses_the_injected_clock(app: FastAPI, account: Account) -> None:
    await create(account, "today")
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(hours=24, minutes=1)
    keeper = Housekeeping(app.state.engine, chunk=1, clock=lambda: tomorrow)
    assert await keeper.sweep_expired_keys() >= 1
    assert await stored(app, account) == {}


async def test_a_serve_process_with_its_dispatcher_sweeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wired into the app's lifespan: no request needed for expired keys to go."""
    monkeypatch.setattr(housekeeping, "FIRST_DELAY", 0.0)
    databases = fresh_database("sqlite", tmp_path)
    url = await databases.__anext__()
    try:
        engine = create_engine(url)
        try:
            await upgrade(engine)
            async with engine.begin() as conn:
                account_id = (await admin.create_account(conn, "Sweep"))["id"]
                await conn.execute(
                    insert(k).values(
                        account_id=account_id,
                        key="expired",
                        fingerprint="0" * 64,
                        created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25),
                    )
                )
        finally:
            await engine.dispose()
        settings = Settings(
            database_url=url, run_dispatcher=True, mail_url=f"maildir:{tmp_path / 'outbox'}"
        )
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            keeper = application.state.housekeeping

            async def gone() -> bool:
                async with application.state.engine.connect() as conn:
                    rows = (await conn.execute(select(k.c.key))).all()
                return keeper.sweeps >= 1 and rows == []

            await until(gone)
    finally:
        await databases.aclose()


# ---- migration 0006 links the keys stored before it ----


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_migration_links_keys_stored_before_it(kind: str, tmp_path: Path) -> None:
    databases = fresh_database(kind, tmp_path)
    url = await databases.__anext__()
    engine = create_engine(url)
    try:
        await upgrade(engine)
        await downgrade(engine, "0005")
        async with engine.begin() as conn:
            account_id = (await admin.create_account(conn, "Old keys"))["id"]
            now = dt.datetime.now(dt.UTC)
            for key, status, location in (
                ("request", 201, "https://opensure.example/feedback_requests/12345"),
                ("site", 201, "https://opensure.example/sites/7"),
                ("claimed", None, None),
            ):
                await conn.exec_driver_sql(
                    "INSERT INTO idempotency_keys "
                    "(account_id, key, fingerprint, status_code, location, created_at) "
                    + (
                        "VALUES ($1, $2, $3, $4, $5, $6)"
                        if kind == "postgresql"
                        else "VALUES (?, ?, ?, ?, ?, ?)"
                    ),
                    (
                        account_id,
                        key,
                        "0" * 64,
                        status,
                        location,
                        now if kind == "postgresql" else now.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    ),
                )
        await upgrade(engine)
        async with engine.connect() as conn:
            rows = (await conn.execute(select(k.c.key, k.c.feedback_request_id))).all()
        assert dict(rows) == {"request": 12345, "site": None, "claimed": None}
    finally:
        await engine.dispose()
        await databases.aclose()
