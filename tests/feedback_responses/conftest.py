"""An account whose survey has every question type, and a real SMTP server to email it from."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Account, make_account
from tests.dispatch.support import SmtpServer
from tests.feedback_responses.support import FULL_SURVEY


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def surveyed(app: FastAPI, client: httpx.AsyncClient) -> Account:
    return await make_account(app, client, survey=FULL_SURVEY)
