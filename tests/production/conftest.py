"""The production shape (SPEC §1) on PostgreSQL: `opensure dispatcher` processes and
`opensure serve --no-dispatcher` against a fresh PostgreSQL database per test, mailing a real
SMTP server run by the test. Skipped (or failed, under OPENSURE_TEST_REQUIRE_ALL) without
OPENSURE_TEST_POSTGRES_URL.

The outage test stops and starts that PostgreSQL server: with pg_ctlcluster when it is a local
Debian cluster we may control, else with the commands in OPENSURE_TEST_POSTGRES_STOP and
OPENSURE_TEST_POSTGRES_START (e.g. ``docker stop pg`` / ``docker start pg``). It always starts
it again, but other test runs using the same server at that moment see it go away for ~3 s."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from opensure.db import create_engine
from opensure.db.migrate import upgrade
from tests.fixtures.databases import fresh_database
from tests.production.support import SmtpSink


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "production: the production shape on PostgreSQL (real processes, real SMTP)"
    )


@pytest.fixture(autouse=True, scope="session")
def _alone() -> None:
    """Refuse to run beside other tests in parallel (pytest-xdist): the outage test restarts
    the PostgreSQL server they use, and the SIGKILL tests count duplicates at full speed."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.fail(
            "tests/production must run on its own, not under pytest -n: "
            "`make test` runs it after the rest (or: pytest tests/production)",
            pytrace=False,
        )


@pytest.fixture
async def pg_url(tmp_path: Path) -> AsyncIterator[str]:
    """A fresh PostgreSQL database, migrated, dropped after the test."""
    databases = fresh_database("postgresql", tmp_path)
    url = await databases.__anext__()
    try:
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        yield url
    finally:
        await databases.aclose()


@pytest.fixture
async def pg_engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(pg_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def slow_sink() -> Iterator[SmtpSink]:
    server = SmtpSink(delay=0.05)
    server.start()
    try:
        yield server
    finally:
        server.stop()
