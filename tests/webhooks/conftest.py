"""A real HTTP receiver on 127.0.0.1 and a real SMTP server for each webhook test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dispatch.support import SmtpServer
from tests.webhooks.support import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
