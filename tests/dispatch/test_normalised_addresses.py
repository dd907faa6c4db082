"""Unsubscribes and the minimum interval recognise one recipient however the address is
spelled: case and Unicode normal form (SQLite's lower() folded ASCII only)."""

from __future__ import annotations

import secrets
import unicodedata

import httpx
from fastapi import FastAPI

from tests.conftest import make_account
from tests.dispatch.support import SmtpServer, create_request, dispatch, fetch_request
from tests.dispatch.test_not_sent import unsubscribe_path


def idn_address() -> str:
    return f"zoe-{secrets.token_hex(4)}@bücher.example"


def delivered_to(address: str) -> str:
    """The envelope's address: the domain in its ASCII (IDNA) form."""
    local, domain = address.split("@")
    return f"{local}@{domain.encode('idna').decode()}"


def other_spellings(address: str) -> list[str]:
    return [address.upper(), unicodedata.normalize("NFD", address), address.title()]


async def test_an_unsubscribed_address_is_not_surveyed_in_any_spelling(
    app: FastAPI, client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    account = await make_account(app, client)
    to = idn_address()
    await create_request(account, email=to)
    await dispatch(app, smtp.url)
    r = await client.post(
        unsubscribe_path(smtp, delivered_to(to)),
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    later = [await create_request(account, email=s) for s in other_spellings(to)]
    await dispatch(app, smtp.url)
    for created in later:
        after = await fetch_request(account, created["id"])
        assert after["state"] == "not_sent", created["email"]
        assert "unsubscribed" in after["not_sent_reason"]
    assert len(smtp.to(delivered_to(to))) == 1


async def test_the_minimum_interval_holds_for_every_spelling(
    app: FastAPI, client: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    account = await make_account(app, client, min_interval_days=30)
    to = idn_address()
    first = await create_request(account, email=to)
    await dispatch(app, smtp.url)
    assert (await fetch_request(account, first["id"]))["state"] == "sent"
    for spelling in other_spellings(to):
        again = await create_request(account, email=spelling)
        await dispatch(app, smtp.url)
        after = await fetch_request(account, again["id"])
        assert after["state"] == "not_sent", spelling
        assert "30 days" in after["not_sent_reason"]
