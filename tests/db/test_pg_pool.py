"""PostgreSQL: the fast path's pool hands a connection back without asyncpg's reset round trip
(``RESET ALL`` and the rest), yet the next user never inherits what the last one changed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from opensure.db import fast
from opensure.db.engine import driver_dsn
from opensure.db.fast import PgDirect, Query
from tests.fixtures.databases import fresh_database

PID = Query("SELECT pg_backend_pid()")
PLAN_MODE = Query("SELECT current_setting('plan_cache_mode')")
TABLE = Query("CREATE TABLE IF NOT EXISTS pool_probe (n int)")
INSERT = Query("INSERT INTO pool_probe (n) VALUES ($1)")
COUNT = Query("SELECT count(*) FROM pool_probe")


@pytest.fixture
async def pg_url(tmp_path: Path) -> AsyncIterator[str]:
    databases = fresh_database("postgresql", tmp_path)
    url = await databases.__anext__()
    try:
        yield url
    finally:
        await databases.aclose()


@pytest.fixture
async def direct(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[PgDirect]:
    # One connection, so every use below meets the previous one's connection.
    monkeypatch.setattr(fast, "PG_POOL_SIZE", 1)
    opened = await fast.open_direct(pg_url)
    assert isinstance(opened, PgDirect)
    try:
        yield opened
    finally:
        await opened.close()


async def _last_statement(pg_url: str, pid: int) -> str:
    """What the server last ran on that backend, once it is idle (pg_stat_activity)."""
    watcher = await asyncpg.connect(driver_dsn(pg_url))
    try:
        for _ in range(100):
            row = await watcher.fetchrow(
                "SELECT state, query FROM pg_stat_activity WHERE pid = $1", pid
            )
            assert row is not None
            if row["state"] == "idle":
                return str(row["query"])
            await asyncio.sleep(0.01)
        raise AssertionError(f"backend {pid} never went idle: {row}")
    finally:
        await watcher.close()


async def test_a_read_goes_back_to_the_pool_without_a_reset_statement(
    direct: PgDirect, pg_url: str
) -> None:
    async with direct.read() as session:
        row = await session.fetchrow(PID)
    assert row is not None
    pid = row[0]
    assert await _last_statement(pg_url, pid) == PID.postgresql


async def test_read_planned_s_setting_ends_with_its_use_even_when_it_fails(
    direct: PgDirect, pg_url: str
) -> None:
    async with direct.read_planned() as session:
        first = await session.fetchrow(PID)
        assert await session.fetchrow(PLAN_MODE) == ("force_custom_plan",)
    async with direct.read() as session:
        assert await session.fetchrow(PID) == first
        assert await session.fetchrow(PLAN_MODE) == ("auto",)

    with pytest.raises(RuntimeError):
        async with direct.read_planned() as session:
            assert await session.fetchrow(PLAN_MODE) == ("force_custom_plan",)
            raise RuntimeError("the page failed")
    async with direct.read() as session:
        assert await session.fetchrow(PID) == first
        assert await session.fetchrow(PLAN_MODE) == ("auto",)
    # A plain read needs no undoing: its release ran nothing after the query.
    assert first is not None
    assert await _last_statement(pg_url, first[0]) == PLAN_MODE.postgresql


async def test_a_failed_transaction_leaves_nothing_behind_on_the_connection(
    direct: PgDirect,
) -> None:
    async with direct.transaction() as session:
        await session.execute(TABLE)
    with pytest.raises(RuntimeError):
        async with direct.transaction() as session:
            await session.execute(INSERT, 1)
            raise RuntimeError("the request failed")
    async with direct.read() as session:
        assert await session.fetchrow(COUNT) == (0,)
        await session.execute(INSERT, 2)  # autocommit: no transaction was left open
    async with direct.read() as session:
        assert await session.fetchrow(COUNT) == (1,)
