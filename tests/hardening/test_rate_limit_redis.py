"""In the production shape the allowance is shared by every API process through Redis."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis

from tests.fixtures.databases import fresh_database, skip_or_fail
from tests.fixtures.server import (
    OpenSureServer,
    run_cli,
    start_server,
    stop_server,
)

REDIS_ENV = "OPENSURE_TEST_REDIS_URL"
MEDIA_TYPE = "application/vnd.customersure.v1+json"


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    url = os.environ.get(REDIS_ENV, "redis://127.0.0.1:6379/15")
    client = redis.from_url(url)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        skip_or_fail(f"Redis at {url} is not reachable ({REDIS_ENV}): {exc}")
    yield url
    await client.aclose()


@pytest.fixture
async def two_servers(
    redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[list[OpenSureServer], str]]:
    databases = fresh_database("sqlite", tmp_path)
    db_url = await databases.__anext__()
    name = f"Redis {secrets.token_hex(3)}"
    created = await run_cli("accounts", "create", name, "--json", db_url=db_url, cwd=tmp_path)
    token = created.json()["token"]
    env = {"OPENSURE_REDIS_URL": redis_url, "OPENSURE_RATE_LIMIT": "5"}
    servers: list[OpenSureServer] = []
    try:
        for i in range(2):
            workdir = tmp_path / f"serve{i}"
            workdir.mkdir()
            servers.append(
                await start_server(
                    "sqlite", db_url, workdir, ["--no-demo", "--no-dispatcher"], env=env
                )
            )
        yield servers, token
    finally:
        for server in servers:
            stop_server(server)
        await databases.aclose()


async def test_two_processes_share_one_allowance(
    two_servers: tuple[list[OpenSureServer], str],
) -> None:
    servers, token = two_servers
    headers = {"User-Agent": "Acme", "Accept": MEDIA_TYPE, "Authorization": f"Token token={token}"}
    remaining = []
    async with httpx.AsyncClient(headers=headers, timeout=10) as client:
        for i in range(5):
            r = await client.get(f"{servers[i % 2].base_url}/sites")
            assert r.status_code == 200, r.text
            remaining.append(int(r.headers["x-ratelimit-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        for server in servers:
            r = await client.get(f"{server.base_url}/sites")
            assert r.status_code == 429, r.text
            assert int(r.headers["retry-after"]) >= 1
