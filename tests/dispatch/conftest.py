"""A real SMTP server for each dispatch test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dispatch.support import SmtpServer


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
