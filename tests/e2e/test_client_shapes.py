"""Existing CustomerSure clients, byte for byte, against a real `opensure serve` process.

Each request is written to a raw socket so that the header spelling, spacing and order are
exactly what those clients send (an HTTP library would normalise them), and the response is
parsed by hand: status line, headers, then a body of Content-Length bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gzip
import json
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fixtures.server import ApiAccount, OpenSureServer

pytestmark = pytest.mark.e2e

READ_TIMEOUT = 15.0


@dataclass
class RawResponse:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"{name} appears {len(values)} times: {values}"
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)

    def __str__(self) -> str:
        head = "\n".join(f"{k}: {v}" for k, v in self.headers)
        return f"{self.version} {self.status} {self.reason}\n{head}\n\n{self.body!r}"


class Connection:
    """One TCP connection to the server, kept open between requests like a client's."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> RawResponse:
        self.writer.write(request)
        await self.writer.drain()
        return await asyncio.wait_for(self._read_response(), READ_TIMEOUT)

    async def _read_response(self) -> RawResponse:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        version, status, reason = [*status_line.split(" ", 2), ""][:3]
        assert version in ("HTTP/1.1", "HTTP/1.0"), status_line
        headers = []
        for line in header_lines:
            name, colon, value = line.partition(":")
            assert colon and name == name.strip(), f"malformed header line {line!r}"
            headers.append((name, value.strip()))
        response = RawResponse(version, int(status), reason, headers, b"")
        assert response.header("transfer-encoding") is None, f"expected Content-Length\n{head!r}"
        length = response.header("content-length")
        if int(status) in (204, 304):
            assert length in (None, "0"), str(response)
            return response
        assert length is not None and length.isdigit(), f"no Content-Length\n{head!r}"
        body = await self.reader.readexactly(int(length))
        encoding = (response.header("content-encoding") or "identity").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        else:
            assert encoding == "identity", encoding
        response.body = body
        return response


@contextlib.asynccontextmanager
async def connect(server: OpenSureServer) -> AsyncIterator[Connection]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        yield Connection(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def http_request(method: str, path: str, header_lines: list[str], body: bytes = b"") -> bytes:
    """A request with header lines exactly as given (each without its CRLF)."""
    lines = [f"{method} {path} HTTP/1.1", *header_lines]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def assert_json(response: RawResponse, status: int) -> Any:
    assert response.status == status, str(response)
    assert response.header("content-type") == "application/json; charset=utf-8", str(response)
    return response.json()


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def z(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_php_curl_client(opensure_server: OpenSureServer, server_account: ApiAccount) -> None:
    """A PHP integration: curl_setopt(CURLOPT_HTTPHEADER, [...]) with its own header spelling.

    The token is unquoted, `Content-type:application/json` has no space, the Accept header ends
    in `;`, and `send_at` is "now" (`gmdate('Y-m-d\\TH:i:s\\Z')`), so: send as soon as possible.
    """
    send_at = now_utc()
    payload = {
        "send_at": z(send_at),
        "email": "jane.doe@example.com",
        "survey_id": str(server_account.survey_id),  # PHP sends the id as it came from its DB
        "first_name": "Jane",
        "surname": "Doe",
        "reference": "LRN-20391",
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [
        f"Host: 127.0.0.1:{opensure_server.port}",
        f"Authorization: Token token={server_account.token}",
        "Content-type:application/json",
        "Accept: application/vnd.customersure.v1+json;",
        "User-Agent: Perspective/Sunesis",
    ]
    async with connect(opensure_server) as conn:
        response = await conn.exchange(http_request("POST", "/feedback_requests", headers, body))
        created = assert_json(response, 201)
        assert response.header("location") == (
            f"{opensure_server.base_url}/feedback_requests/{created['id']}"
        )
        assert created["email"] == "jane.doe@example.com"
        assert created["survey_id"] == server_account.survey_id
        assert created["first_name"] == "Jane"
        assert created["surname"] == "Doe"
        assert created["reference"] == "LRN-20391"
        assert created["send_at"] == z(send_at)
        assert created["state"] in ("pending", "sent")

        # The same client reads it back over the same (kept-alive) connection.
        get_headers = [h for h in headers if not h.lower().startswith("content-type")]
        response = await conn.exchange(
            http_request("GET", f"/feedback_requests/{created['id']}", get_headers)
        )
        fetched = assert_json(response, 200)
    for key in ("id", "email", "survey_id", "first_name", "surname", "reference", "send_at"):
        assert fetched[key] == created[key], key


@pytest.mark.parametrize("offset", ["+00:00", "-05:00"], ids=["utc-host", "new-york-host"])
async def test_ruby_script(
    opensure_server: OpenSureServer,
    server_account: ApiAccount,
    offset: str,
) -> None:
    """A Ruby script with Net::HTTP: `send_at: DateTime.now.to_s` (local time with its offset),
    an email template, and `query_params` as CustomerSure clients send them."""
    email_template = server_account.template
    assert isinstance(email_template["id"], int)
    now = now_utc()
    sign = -1 if offset.startswith("-") else 1
    tz = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    send_at = now.astimezone(tz).isoformat()  # DateTime.now.to_s: 2026-11-26T23:45:12+00:00
    assert send_at.endswith(offset)
    payload = {
        "email": "sam@example.com",
        "send_at": send_at,
        "survey_id": server_account.survey_id,
        "email_template_id": email_template["id"],
        "first_name": "Sam",
        "query_params": [{"key": "utm_source", "value": "helpdesk"}],
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [
        "Content-Type: application/json",
        "Accept: application/vnd.customersure.v1+json",
        f'Authorization: Token token="{server_account.token}"',
        "Accept-Encoding: gzip;q=1.0,deflate;q=0.6,identity;q=0.3",
        "User-Agent: Ruby",
        f"Host: 127.0.0.1:{opensure_server.port}",
    ]
    async with connect(opensure_server) as conn:
        response = await conn.exchange(http_request("POST", "/feedback_requests", headers, body))
    created = assert_json(response, 201)
    assert created["send_at"] == z(now)
    assert created["email_template_id"] == email_template["id"]
    assert [(q["key"], q["value"]) for q in created["query_params"]] == [("utm_source", "helpdesk")]
    assert isinstance(created["query_params"][0]["id"], int)
    assert created["data"] == []

    async with opensure_server.client(headers=server_account.headers) as client:
        r = await client.get(f"/feedback_requests/{created['id']}")
    assert r.status_code == 200, r.text
    fetched = r.json()
    assert fetched["email_template_id"] == email_template["id"]
    assert fetched["query_params"] == created["query_params"]
