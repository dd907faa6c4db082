"""SQLite: every writer of a process (the SQLAlchemy engine's transactions and the fast path's
writer) takes one turn, so concurrent writes queue in memory and never meet at SQLite's lock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from opensure.db import engine as db_engine
from opensure.db import fast
from opensure.db.fast import Query
from opensure.db.migrate import upgrade

# Without the busy timeout a writer that meets another's lock fails at once instead of
# spinning: the test sees every collision.
NO_WAITING = tuple(
    "PRAGMA busy_timeout=0" if p.startswith("PRAGMA busy_timeout") else p
    for p in db_engine.SQLITE_PRAGMAS
)
INSERT = Query("INSERT INTO accounts (name, min_interval_days, created_at) VALUES ($1, 0, $2)")


async def _write_concurrently(engine: AsyncEngine, direct: fast.SqliteDirect, n: int) -> list:
    async def through_engine(i: int) -> None:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO accounts (name, min_interval_days, created_at) "
                    "VALUES (:n, 0, '2026-01-01 00:00:00.000000')"
                ),
                {"n": f"engine-{i}"},
            )
            await asyncio.sleep(0.002)  # hold the write lock a little, as real work does

    async def through_fast_path(i: int) -> None:
        async with direct.transaction() as session:
            await session.execute(INSERT, f"fast-{i}", "2026-01-01 00:00:00.000000")
            await asyncio.sleep(0.002)

    tasks = [through_engine(i) for i in range(n)] + [through_fast_path(i) for i in range(n)]
    return await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'writers.db'}"
    engine = db_engine.create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    monkeypatch.setattr(db_engine, "SQLITE_PRAGMAS", NO_WAITING)
    monkeypatch.setattr(fast, "SQLITE_PRAGMAS", NO_WAITING)
    return url


async def test_writers_of_one_process_take_turns(sqlite_file: str) -> None:
    engine = db_engine.create_engine(sqlite_file)
    direct = await fast.open_direct(sqlite_file)
    assert isinstance(direct, fast.SqliteDirect)
    try:
        results = await _write_concurrently(engine, direct, 20)
        assert [r for r in results if r is not None] == []
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM accounts"))).scalar_one()
        assert count == 40
    finally:
        await direct.close()
        await engine.dispose()


async def test_without_the_shared_turn_writers_collide(sqlite_file: str) -> None:
    # The same load on an engine that does not take the turn: SQLite refuses the colliding
    # writers (what busy_timeout otherwise hides as spinning). Shows the test above can fail.
    shared = db_engine.create_engine(sqlite_file)
    engine = AsyncEngine(shared.sync_engine)
    direct = await fast.open_direct(sqlite_file)
    assert isinstance(direct, fast.SqliteDirect)
    try:
        results = await _write_concurrently(engine, direct, 20)
        locked = [r for r in results if isinstance(r, OperationalError | Exception)]
        assert locked, "expected SQLite to refuse colliding writers"
        assert any("locked" in str(r) for r in locked)
    finally:
        await direct.close()
        await shared.dispose()
