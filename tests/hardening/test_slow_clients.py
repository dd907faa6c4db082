"""Slow and half-sent requests against a real ``opensure serve``, over raw TCP connections.

A client that sends its headers and part of its body, then stalls, gets a 408 in the API's error
format after OPENSURE_BODY_TIMEOUT_SECONDS (1 s here), and nothing is stored. While it stalls,
and while another client stalls half-way through its headers, everyone else is served at once:
a stalled client holds a connection, never the process. A connection whose headers are not
complete within OPENSURE_HEADER_TIMEOUT_SECONDS (2 s here; uvicorn has no such deadline, see
opensure.ops.slowclients) gets a 408 and is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from tests.fixtures.databases import fresh_database
from tests.fixtures.server import ApiAccount, OpenSureServer, start_server, stop_server

pytestmark = pytest.mark.e2e

BODY_TIMEOUT = 1.0
HEADER_TIMEOUT = 2.0
# "At once", with room for a loaded CI machine: a request that had to wait for a stalled
# client would wait for its whole timeout, or for ever.
PROMPT = 2.0


@dataclass
class Served:
    server: OpenSureServer
    account: ApiAccount


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    workdir = tmp_path_factory.mktemp("slow-clients")
    databases = fresh_database("sqlite", workdir)
    db_url = await databases.__anext__()
    try:
        server = await start_server(
            "sqlite",
            db_url,
            workdir,
            ["--no-demo", "--no-dispatcher"],
            env={
                "OPENSURE_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
                "OPENSURE_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
            },
        )
        try:
            yield Served(server, await server.create_account())
        finally:
            stop_server(server)
    finally:
        await databases.aclose()


def request_head(account: ApiAccount, method: str, path: str, content_length: int) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{name}: {value}" for name, value in account.headers.items()),
        "Content-Type: application/json",
        f"Content-Length: {content_length}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@contextlib.asynccontextmanager
async def connection(
    server: OpenSureServer,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


async def served_at_once(client: httpx.AsyncClient, account: ApiAccount) -> float:
    """A read and a write by another client are answered without waiting for anyone; the
    moment they were."""
    started = time.monotonic()
    r = await client.get("/sites")
    assert r.status_code == 200, r.text
    r = await client.post(
        "/feedback_requests",
        json={"email": "kate@example.com", "send_at": "2099-01-01", "survey_id": account.survey_id},
    )
    assert r.status_code == 201, r.text
    done = time.monotonic()
    assert done - started < PROMPT, f"served in {done - started:.2f} s while others stalled"
    return done


async def site_codes(client: httpx.AsyncClient) -> list[str]:
    r = await client.get("/sites")
    assert r.status_code == 200, r.text
    return [s["site_code"] for s in r.json()]


@dataclass
class Stalled:
    sent: float  # when the head and the first 10 bytes were out
    answered: float  # when the answer had arrived
    status: int
    headers: dict[str, str]
    body: bytes
    rest: bytes  # what came after the answer, until the server closed


async def stall_half_way_through_a_body(server: OpenSureServer, account: ApiAccount) -> Stalled:
    """Announce 100 bytes of body, send 10, and stall."""
    async with connection(server) as (reader, writer):
        writer.write(request_head(account, "POST", "/sites", 100) + b'{"site_cod')
        await writer.drain()
        sent = time.monotonic()
        status, headers, body = await asyncio.wait_for(read_response(reader), 10)
        answered = time.monotonic()
        rest = await asyncio.wait_for(reader.read(), 2)
    return Stalled(sent, answered, status, headers, body, rest)


async def test_a_half_sent_body_is_408_and_holds_no_one_up(served: Served) -> None:
    server, account = served.server, served.account
    async with server.client(headers=account.headers) as client:
        before = await site_codes(client)
        stalled = [
            asyncio.create_task(stall_half_way_through_a_body(server, account)) for _ in range(3)
        ]
        await asyncio.sleep(BODY_TIMEOUT / 4)
        served = await served_at_once(client, account)

        for one in await asyncio.gather(*stalled):
            assert one.status == 408, one.body
            assert served < one.answered, "the others were served while these stalled"
            waited = one.answered - one.sent
            assert BODY_TIMEOUT * 0.9 <= waited < BODY_TIMEOUT + 1.5, waited
            assert one.headers["content-type"] == "application/json; charset=utf-8"
            assert json.loads(one.body) == {
                "message": f"Request body not received within {BODY_TIMEOUT:g} seconds"
            }
            # The rest of the body is not awaited: the server closes the connection at once.
            assert one.headers["connection"] == "close"
            assert one.rest == b""

        assert await site_codes(client) == before, "nothing of a half-sent body is stored"
        await served_at_once(client, account)


async def test_a_complete_body_sent_slowly_within_the_timeout_is_served(served: Served) -> None:
    server, account = served.server, served.account
    body = json.dumps({"site_code": "slow", "name": "Slow Lane"}).encode()
    async with connection(server) as (reader, writer):
        writer.write(request_head(account, "POST", "/sites", len(body)))
        for i in range(0, len(body), 10):
            writer.write(body[i : i + 10])
            await writer.drain()
            await asyncio.sleep(BODY_TIMEOUT / 10)
        status, _, answer = await asyncio.wait_for(read_response(reader), 5)
    assert status == 201, answer
    assert json.loads(answer)["site_code"] == "slow"


async def test_a_client_stalled_in_its_headers_holds_no_one_up(served: Served) -> None:
    server, account = served.server, served.account
    async with (
        connection(server) as (_, half_headers),
        connection(server),  # connected, sends nothing
        server.client(headers=account.headers) as client,
    ):
        half_headers.write(request_head(account, "POST", "/sites", 100)[:40])
        await half_headers.drain()
        await served_at_once(client, account)
        await asyncio.sleep(BODY_TIMEOUT)
        await served_at_once(client, account)


async def answered_408_and_closed(reader: asyncio.StreamReader) -> float:
    status, headers, body = await asyncio.wait_for(read_response(reader), HEADER_TIMEOUT + 10)
    assert status == 408
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["connection"] == "close"
    assert json.loads(body) == {"message": "Request headers not received in time"}
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
    return time.monotonic()


async def test_connections_whose_headers_never_complete_are_closed(served: Served) -> None:
    server, account = served.server, served.account
    async with (
        connection(server) as (half_reader, half_headers),
        connection(server) as (silent_reader, _),  # connected, sends nothing
    ):
        opened = time.monotonic()
        half_headers.write(request_head(account, "POST", "/sites", 100)[:40])
        await half_headers.drain()
        closed = await asyncio.gather(
            answered_408_and_closed(half_reader), answered_408_and_closed(silent_reader)
        )
    for moment in closed:
        assert HEADER_TIMEOUT - 0.5 <= moment - opened < HEADER_TIMEOUT + 5


async def test_headers_sent_slowly_within_the_deadline_are_served(served: Served) -> None:
    server, account = served.server, served.account
    head = request_head(account, "GET", "/sites", 0).replace(b"Content-Length: 0\r\n", b"")
    async with connection(server) as (reader, writer):
        for part in (head[:30], head[30:60], head[60:]):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(HEADER_TIMEOUT / 4)
        status, _, body = await asyncio.wait_for(read_response(reader), 10)
        assert status == 200, body
        # The same connection, kept alive: the next request gets its own deadline.
        await asyncio.sleep(HEADER_TIMEOUT * 0.75)
        writer.write(head)
        await writer.drain()
        status, _, _ = await asyncio.wait_for(read_response(reader), 10)
        assert status == 200
