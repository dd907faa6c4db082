"""Helpers shared by the site tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Account

JSON_CT = "application/json; charset=utf-8"


def site(
    code: str,
    name: str,
    city: str | None = None,
    region: str | None = None,
    country_code: str | None = None,
) -> dict[str, Any]:
    """The site as the API shows it: every attribute, blanks as null."""
    return {
        "site_code": code,
        "name": name,
        "city": city,
        "region": region,
        "country_code": country_code,
    }


async def create_site(account: Account, **body: Any) -> dict[str, Any]:
    r = await account.post("/sites", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def errors_of(r: httpx.Response) -> list[tuple[str, str, str]]:
    """(resource, field, error) of each validation error, after checking the 422 shape."""
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["message"] == "Validation error"
    for e in body["errors"]:
        assert set(e) == {"resource", "field", "error", "extra_info"}, e
        assert isinstance(e["extra_info"], dict)
    return sorted((e["resource"], e["field"], e["error"]) for e in body["errors"])


def error_for(r: httpx.Response, field: str) -> dict[str, Any]:
    """The one validation error on ``field``."""
    assert r.status_code == 422, r.text
    found = [e for e in r.json()["errors"] if e["field"] == field]
    assert len(found) == 1, r.json()
    return found[0]
