"""A real HTTP receiver on 127.0.0.1 and a real SMTP server for each webhook test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text

from tests.dispatch.conftest import smtp
from tests.webhooks.support import Receiver

__all__ = ["smtp"]  # the dispatch tests' real SMTP server, per test


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
async def no_leftovers(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Events a test leaves undelivered are dropped after it: the next test's sender must not
    try them (their receivers are gone; some name hosts only a stub resolver knows)."""
    yield
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        async with app.state.engine.begin() as conn:
            await conn.execute(text("UPDATE webhook_events SET next_attempt_at = NULL"))
