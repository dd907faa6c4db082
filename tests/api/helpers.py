"""Small helpers shared by the API convention tests."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import insert

from opensure.models import FeedbackRequest
from tests.conftest import MEDIA_TYPE, Account

JSON_CT = "application/json; charset=utf-8"
UTC_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def in_future(**delta: float) -> dt.datetime:
    """Now plus ``delta`` (a day by default), whole seconds."""
    delta = delta or {"days": 1}
    return (dt.datetime.now(dt.UTC) + dt.timedelta(**delta)).replace(microsecond=0)


def request_body(account: Account, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": "kate@example.com",
        "send_at": iso(in_future()),
        "survey_id": account.survey_id,
    }
    body.update(overrides)
    return body


async def create_request(account: Account, **overrides: Any) -> dict[str, Any]:
    r = await account.post("/feedback_requests", json=request_body(account, **overrides))
    assert r.status_code == 201, r.text
    return r.json()


async def bulk_insert_requests(
    app: FastAPI, account: Account, count: int, *, state: str = "pending"
) -> None:
    """``count`` requests written straight to the database, one minute of send_at apart."""
    start = in_future(days=2)
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "account_id": account.id,
            "survey_id": account.survey_id,
            "email": f"c{i}@example.com",
            "state": state,
            "send_at": start + dt.timedelta(minutes=i),
            "created_at": now,
            "updated_at": now,
            "token": secrets.token_urlsafe(24),
        }
        for i in range(count)
    ]
    async with app.state.engine.begin() as conn:
        await conn.execute(insert(FeedbackRequest.__table__), rows)


def headers_without(account: Account, *names: str) -> dict[str, str]:
    return {k: v for k, v in account.headers.items() if k not in names}


async def raw(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> httpx.Response:
    """A request with exactly these headers (httpx adds its own User-Agent and Accept)."""
    request = client.build_request(method, path, **kwargs)
    for name in ("user-agent", "accept", "authorization"):
        if name in request.headers:
            del request.headers[name]
    request.headers.update(headers)
    return await client.send(request)


def parse_links(header: str) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """rel → (scheme://host/path, query pairs) of a Link header."""
    links: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    for part in header.split(","):
        m = re.fullmatch(r'\s*<([^>]*)>\s*;\s*rel="([^"]+)"\s*', part)
        assert m is not None, f"malformed Link entry {part!r} in {header!r}"
        url = urlsplit(m[1])
        links[m[2]] = (f"{url.scheme}://{url.netloc}{url.path}", parse_qsl(url.query))
    return links


__all__ = ["JSON_CT", "MEDIA_TYPE", "UTC_FORMAT"]
