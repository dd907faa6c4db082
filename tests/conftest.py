"""Shared fixtures: a fresh database per backend and run, the app on it, accounts to call it as."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from opensure.accounts import service as admin
from opensure.app import create_app
from opensure.config import Settings
from opensure.db import create_engine
from opensure.db.migrate import upgrade
from opensure.surveys import importer
from tests.fixtures.databases import fresh_database

MEDIA_TYPE = "application/vnd.customersure.v1+json"
BASE = "http://testserver"
SURVEY = {
    "name": "Support satisfaction",
    "questions": [
        {"type": "rating", "text": "How likely are you to recommend us?", "nps": True},
        {"type": "rating", "text": "How satisfied were you?", "scale": [1, 5]},
        {"type": "text", "text": "Anything else?", "required": False},
        {"type": "radio", "text": "Was your issue solved?", "options": ["Yes", "No"]},
    ],
}


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A fresh, migrated database for this run, on each backend."""
    gen = fresh_database(request.param, tmp_path_factory.mktemp("db"))
    url = await gen.__anext__()
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    yield url
    await gen.aclose()


@pytest.fixture(scope="session")
async def app(db_url: str) -> AsyncIterator[FastAPI]:
    # As if behind a reverse proxy on this host: X-Forwarded-Host/-Proto are honoured.
    application = create_app(
        Settings(database_url=db_url, public_url=BASE, forwarded_allow_ips="127.0.0.1")
    )
    async with application.router.lifespan_context(application):
        yield application


@dataclass
class Account:
    """An account made for one test, with helpers to call the API as it."""

    id: int
    name: str
    token: str
    survey: dict[str, Any]
    client: httpx.AsyncClient
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def survey_id(self) -> int:
        return int(self.survey["id"])

    @property
    def headers(self) -> dict[str, str]:
        return {
            "User-Agent": self.name,
            "Accept": MEDIA_TYPE,
            "Authorization": f'Token token="{self.token}"',
        }

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kwargs)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        yield c


async def make_account(app: FastAPI, client: httpx.AsyncClient, **kwargs: Any) -> Account:
    """A new account with a token and one survey, written straight to the database."""
    name = kwargs.pop("name", None) or f"Acme {secrets.token_hex(4)}"
    async with app.state.engine.begin() as conn:
        created = await admin.create_account(conn, name, kwargs.pop("min_interval_days", 0))
        survey = await importer.import_survey(conn, created["id"], kwargs.pop("survey", SURVEY))
    return Account(
        id=created["id"], name=name, token=created["token"], survey=survey, client=client
    )


@pytest.fixture
async def account(app: FastAPI, client: httpx.AsyncClient) -> Account:
    return await make_account(app, client)


@pytest.fixture
async def other_account(app: FastAPI, client: httpx.AsyncClient) -> Account:
    return await make_account(app, client)


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path
