"""The Alembic migrations on both engines, each test on a fresh, empty database.

Up from nothing creates every table of the models, down to base removes them all, up again
works, every revision steps down and up again, and the migrated schema is exactly the models'
(alembic's autogenerate comparison finds nothing to change).
"""

from __future__ import annotations

import asyncio
import sys
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from opensure import models  # noqa: F401  (registers every table on Base.metadata)
from opensure.db import Base, create_engine
from opensure.db.fast import SaSession
from opensure.db.migrate import alembic_config, downgrade, is_current, upgrade
from opensure.feedback_responses.repository import InboxFilter, inbox_page
from opensure.models.feedback import described, kept_outside_metadata
from tests.fixtures.databases import fresh_database

MODEL_TABLES = set(Base.metadata.tables)


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on a new, empty database of each backend."""
    databases = fresh_database(request.param, tmp_path)
    url = await databases.__anext__()
    eng = create_engine(url)
    try:
        yield eng
    finally:
        await eng.dispose()
        await databases.aclose()


def _tables(conn: Connection) -> set[str]:
    names = set(inspect(conn).get_table_names()) - {"sqlite_sequence"}
    return {n for n in names if not kept_outside_metadata(n)}


def _diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn,
        opts={"compare_type": True, "compare_server_default": True, "include_name": described},
    )
    return list(compare_metadata(context, Base.metadata))


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(_tables)


async def schema_diff(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(_diff)


async def revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_revision)


def revisions_in_order() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]


async def test_empty_to_head_to_base_and_back(engine: AsyncEngine) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert await tables(engine) == set()

    await upgrade(engine)
    assert await tables(engine) == MODEL_TABLES | {"alembic_version"}
    assert await revision(engine) == head
    assert await is_current(engine)

    await downgrade(engine, "base")
    assert await tables(engine) <= {"alembic_version"}
    assert await revision(engine) is None
    assert not await is_current(engine)
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            left = (
                await conn.execute(
                    text(
                        "SELECT sequence_name FROM information_schema.sequences "
                        "WHERE sequence_schema = 'public'"
                    )
                )
            ).all()
        assert left == []

    await upgrade(engine)
    assert await tables(engine) == MODEL_TABLES | {"alembic_version"}
    assert await revision(engine) == head
    assert await schema_diff(engine) == []


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    await upgrade(engine)
    diff = await schema_diff(engine)
    assert diff == [], "the migrations and the models differ:\n" + "\n".join(map(str, diff))


async def test_every_revision_steps_down_and_up_again(engine: AsyncEngine) -> None:
    revisions = revisions_in_order()
    assert len(revisions) >= 1
    for number, rev in enumerate(revisions):
        await upgrade(engine, rev)
        assert await revision(engine) == rev
        before = await tables(engine)
        await downgrade(engine, "-1")
        assert await revision(engine) == (revisions[number - 1] if number else None)
        await upgrade(engine, rev)
        assert await revision(engine) == rev
        assert await tables(engine) == before
    assert await schema_diff(engine) == []


# Imports everything, loads the migration scripts and opens a pooled connection first, then
# waits on stdin, so that every process starts migrating at the same moment.
RACER = """
import asyncio, sys
from alembic.script import ScriptDirectory
import opensure.models
from opensure.db import create_engine
from opensure.db.migrate import alembic_config, upgrade

ScriptDirectory.from_config(alembic_config()).get_current_head()

async def main(url):
    engine = create_engine(url)
    try:
        async with engine.connect():
            pass
        print("ready", flush=True)
        sys.stdin.readline()
        await upgrade(engine)
    finally:
        await engine.dispose()

asyncio.run(main(sys.argv[1]))
"""
RACERS = 3


@pytest.mark.parametrize(
    "kind",
    ["sqlite", "postgresql"],
)
async def test_processes_migrating_at_once_all_succeed(kind: str, tmp_path: Path) -> None:
    """The production shape starts several processes at once; each migrates on start."""
    databases = fresh_database(kind, tmp_path)
    url = await databases.__anext__()
    try:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                RACER,
                url,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(RACERS)
        ]
        try:
            for proc in procs:
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), 60)
                assert line.strip() == b"ready", line
            outcomes = await asyncio.wait_for(
                asyncio.gather(*(proc.communicate(b"go\n") for proc in procs)), 60
            )
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        failures = [
            err.decode()[-2000:]
            for proc, (_, err) in zip(procs, outcomes, strict=True)
            if proc.returncode != 0
        ]
        assert failures == [], f"{len(failures)} of {RACERS} failed:\n" + "\n".join(failures)

        engine = create_engine(url)
        try:
            assert await tables(engine) == MODEL_TABLES | {"alembic_version"}
            assert await is_current(engine)
        finally:
            await engine.dispose()
    finally:
        await databases.aclose()


async def test_0007_fills_the_normalised_addresses_of_existing_rows(engine: AsyncEngine) -> None:
    nfd = unicodedata.normalize("NFD", "Zoë@Bücher.example")
    await upgrade(engine, "0006")
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO accounts (id, name, min_interval_days, created_at) "
                "VALUES (1, 'A', 0, '2026-01-01 00:00:00')"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO surveys (id, account_id, code, name, created_at) "
                "VALUES (1, 1, 'c0de', 'S', '2026-01-01 00:00:00')"
            )
        )
        for rid, email in ((1, "Kate@Example.COM"), (2, nfd), (3, None)):
            await conn.execute(
                text(
                    "INSERT INTO feedback_requests (id, account_id, survey_id, email, state, "
                    "send_at, created_at, updated_at, token) VALUES (:id, 1, 1, :email, "
                    "'pending', '2026-01-01 00:00:00', '2026-01-01 00:00:00', "
                    "'2026-01-01 00:00:00', :token)"
                ),
                {"id": rid, "email": email, "token": f"t{rid}"},
            )
        await conn.execute(
            text(
                "INSERT INTO feedback_responses (id, account_id, survey_id, email, submitted_at, "
                "updated_at) VALUES (1, 1, 1, :email, '2026-01-01 00:00:00', "
                "'2026-01-01 00:00:00')"
            ),
            {"email": nfd},
        )
        await conn.execute(
            text(
                "INSERT INTO unsubscribes (account_id, email, created_at) "
                "VALUES (1, :email, '2026-01-01 00:00:00')"
            ),
            {"email": nfd.lower()},
        )
    await upgrade(engine)
    async with engine.connect() as conn:
        requests = dict(
            (await conn.execute(text("SELECT id, email_normalized FROM feedback_requests"))).all()
        )
        responses = (
            await conn.execute(text("SELECT email_normalized FROM feedback_responses"))
        ).scalars()
        unsubscribed = (await conn.execute(text("SELECT email FROM unsubscribes"))).scalars()
        assert requests == {1: "kate@example.com", 2: "zoë@bücher.example", 3: None}
        assert list(responses) == ["zoë@bücher.example"]
        assert list(unsubscribed) == ["zoë@bücher.example"]


async def test_0009_indexes_the_answers_that_were_already_there(engine: AsyncEngine) -> None:
    await upgrade(engine, "0008")
    async with engine.begin() as conn:
        for statement in (
            "INSERT INTO accounts (id, name, min_interval_days, created_at) "
            "VALUES (1, 'A', 0, '2026-01-01 00:00:00')",
            "INSERT INTO surveys (id, account_id, code, name, created_at) "
            "VALUES (1, 1, 'c0de', 'S', '2026-01-01 00:00:00')",
            "INSERT INTO questions (id, survey_id, position, type, text, required, nps) "
            "VALUES (1, 1, 0, 'text', 'Why?', false, false)",
            "INSERT INTO feedback_responses (id, account_id, survey_id, submitted_at, updated_at) "
            "VALUES (1, 1, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00'), "
            "(2, 1, 1, '2026-01-02 00:00:00', '2026-01-02 00:00:00')",
            "INSERT INTO answers (feedback_response_id, question_id, value) "
            "VALUES (1, 1, 'Slow <b>refund</b>'), (2, 1, 'Quick reply')",
        ):
            await conn.execute(text(statement))
    await upgrade(engine)
    async with engine.connect() as conn:
        session = SaSession(conn)
        for word, found in (("refund", [1]), ("QUICK", [2]), ("slo", [1]), ("nothing", [])):
            rows = await inbox_page(session, 1, InboxFilter(words=(word,)), None, 10)
            assert [r.id for r in rows] == found, word


async def test_0015_gives_each_question_its_first_revision_and_each_answer_its_revision(
    engine: AsyncEngine,
) -> None:
    await upgrade(engine, "0012")
    async with engine.begin() as conn:
        for statement in (
            "INSERT INTO accounts (id, name, min_interval_days, created_at) "
            "VALUES (1, 'A', 0, '2026-01-01 00:00:00')",
            "INSERT INTO surveys (id, account_id, code, name, created_at) "
            "VALUES (1, 1, 'c0de', 'S', '2026-01-01 00:00:00')",
            "INSERT INTO questions (id, survey_id, position, type, text, required, nps) "
            "VALUES (1, 1, 0, 'text', 'Why?', false, false), "
            "(2, 1, 1, 'rating', 'Score?', true, true)",
            "INSERT INTO feedback_responses (id, account_id, survey_id, submitted_at, updated_at) "
            "VALUES (1, 1, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
            "INSERT INTO answers (feedback_response_id, question_id, value, rating) "
            "VALUES (1, 1, 'Because', NULL), (1, 2, '9', 9)",
        ):
            await conn.execute(text(statement))
    await upgrade(engine)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT q.id, r.text, r.survey_version, a.question_revision_id = r.id "
                    "FROM questions q JOIN question_revisions r ON r.id = q.revision_id "
                    "JOIN answers a ON a.question_id = q.id ORDER BY q.id"
                )
            )
        ).all()
        assert [tuple(r) for r in rows] == [(1, "Why?", 1, True), (2, "Score?", 1, True)]
        version = (await conn.execute(text("SELECT version FROM surveys"))).scalar_one()
        assert version == 1
