"""Per-token rate limits with GitHub's headers, counted in the process (embedded shape)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from opensure.app import create_app
from opensure.config import Settings
from tests.conftest import BASE, make_account


async def limited_app(
    db_url: str, **settings: object
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(Settings(database_url=db_url, public_url=BASE, **settings))  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield app, client


@pytest.fixture
async def three_per_window(db_url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async for pair in limited_app(db_url, rate_limit=3):
        yield pair


async def test_headers_count_down_then_429(
    three_per_window: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = three_per_window
    account = await make_account(app, client)
    remaining = []
    for _ in range(3):
        r = await account.get("/feedback_requests")
        assert r.status_code == 200
        assert r.headers["x-ratelimit-limit"] == "3"
        remaining.append(int(r.headers["x-ratelimit-remaining"]))
        reset = int(r.headers["x-ratelimit-reset"])
        assert time.time() < reset <= time.time() + 3600
    assert remaining == [2, 1, 0]
    r = await account.get("/feedback_requests")
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert "rate limit" in r.json()["message"]
    assert 1 <= int(r.headers["retry-after"]) <= 3600
    assert r.headers["x-ratelimit-remaining"] == "0"


async def test_each_token_has_its_own_allowance(
    three_per_window: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = three_per_window
    first, second = await make_account(app, client), await make_account(app, client)
    for _ in range(4):
        await first.get("/sites")
    assert (await first.get("/sites")).status_code == 429
    r = await second.get("/sites")
    assert r.status_code == 200
    assert r.headers["x-ratelimit-remaining"] == "2"


async def test_errors_after_authentication_carry_the_headers_too(
    three_per_window: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = three_per_window
    account = await make_account(app, client)
    r = await account.get("/feedback_requests/999999999")
    assert r.status_code == 404
    assert r.headers["x-ratelimit-remaining"] == "2"


async def test_no_limit_when_set_to_zero(db_url: str) -> None:
    async for app, client in limited_app(db_url, rate_limit=0):
        account = await make_account(app, client)
        r = await account.get("/sites")
        assert r.status_code == 200
        assert "x-ratelimit-limit" not in r.headers


async def test_redis_down_serves_and_logs(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="opensure.api")
    async for app, client in limited_app(db_url, rate_limit=2, redis_url="redis://127.0.0.1:1/0"):
        account = await make_account(app, client)
        r = await account.get("/sites")
        assert r.status_code == 200
        assert r.headers["x-ratelimit-remaining"] == "1"  # counted in the process meanwhile
        assert any("rate limit store unavailable" in m for m in caplog.messages)
