"""Console fixtures: users of an account, signed in through the real sign-in form.

``signed_in_client(app, account, role)`` makes a user with that role in the account and
returns an httpx client (its own cookie jar, already open: close it with ``aclose()``, or use
``async with session_of(app, account, role) as client``) that signed in by GET and POST of
/app/sign-in.
``csrf(client, path)`` reads the CSRF token of the form on a page.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from opensure.core.clock import utcnow
from opensure.users import service as users
from tests.conftest import BASE, Account
from tests.dispatch.support import forms

PASSWORD = "correct horse battery staple"


def form_with_action(html: str, action: str) -> dict[str, str]:
    """The named fields of the form posting to ``action``, with their values as served."""
    for form in forms(html):
        if form["action"] == action:
            fields: dict[str, str] = {}
            for i in form["inputs"]:
                if i.get("name"):
                    fields.setdefault(i["name"], i.get("value", ""))
            return fields
    raise AssertionError(f"no form posting to {action!r} on the page")


async def add_user(
    app: FastAPI,
    account: Account,
    role: str = "admin",
    *,
    email: str | None = None,
    password: str | None = PASSWORD,
) -> dict[str, Any]:
    email = email or f"user-{secrets.token_hex(4)}@example.com"
    async with app.state.engine.begin() as conn:
        created = await users.create_user(
            conn, account.id, email=email, role=role, password=password, now=utcnow()
        )
    return {**created, "password": password}


def browser(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client with its own cookie jar, as one browser (``address`` is the client address
    the app sees; nothing is sent over a network)."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url=BASE)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str, next_path: str | None = None
) -> httpx.Response:
    page = await client.get("/app/sign-in" + (f"?next={next_path}" if next_path else ""))
    assert page.status_code == 200, page.text
    fields = form_with_action(page.text, "/app/sign-in")
    fields.update(email=email, password=password)
    return await client.post("/app/sign-in", data=fields)


async def signed_in_client(
    app: FastAPI, account: Account, role: str = "admin", *, email: str | None = None
) -> httpx.AsyncClient:
    user = await add_user(app, account, role, email=email)
    client = browser(app)
    response = await sign_in(client, user["email"], user["password"])
    assert response.status_code == 303, response.text
    client.user = user  # type: ignore[attr-defined]
    return client


async def csrf(client: httpx.AsyncClient, path: str = "/app/account") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, f"no CSRF token on {path}"
    return found[1]


@asynccontextmanager
async def session_of(
    app: FastAPI, account: Account, role: str = "admin", *, email: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """``signed_in_client`` that is closed afterwards: ``async with session_of(app, a) as c``."""
    client = await signed_in_client(app, account, role, email=email)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def admin(app: FastAPI, account: Account) -> AsyncIterator[httpx.AsyncClient]:
    async with session_of(app, account, "admin") as client:
        yield client


@pytest.fixture
async def viewer(app: FastAPI, account: Account) -> AsyncIterator[httpx.AsyncClient]:
    async with session_of(app, account, "viewer") as client:
        yield client
