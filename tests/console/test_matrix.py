"""Rules every console route keeps, checked over the app's own route table so that a page
added later is covered without a new test: every POST needs its form's token (403 without),
and nothing under /app/ answers a signed-out visitor with data."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from tests.console.conftest import browser

# Filled in for path parameters: ids no account has, or nonsense tokens; the CSRF check
# comes before any lookup, so what they name does not matter.
PARAMS = {"token": "not-a-token"}


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, looking inside included routers (FastAPI keeps them apart)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(api_routes(route.original_router.routes))
    return found


def console_routes(app: FastAPI, method: str) -> list[str]:
    paths = []
    for route in api_routes(app.routes):
        if (
            isinstance(route, APIRoute)
            and route.path.startswith("/app")
            and method in route.methods
        ):
            paths.append(re.sub(r"\{(\w+)\}", lambda m: PARAMS.get(m[1], "987654321"), route.path))
    assert paths, f"no console {method} routes"
    return sorted(set(paths))


async def test_every_post_without_the_forms_token_is_refused(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    for path in console_routes(app, "POST"):
        for data in ({}, {"csrf_token": "forged"}):
            response = await admin.post(path, data=data)
            assert response.status_code == 403, (path, data, response.status_code)
            assert response.headers["content-type"].startswith("text/html"), path
    # The session still works: nothing above changed it.
    assert (await admin.get("/app/account")).status_code == 200


async def test_signed_out_visitors_get_no_console_page(app: FastAPI) -> None:
    public = {"/app/sign-in", "/app/set-password/not-a-token"}
    async with browser(app) as client:
        for path in console_routes(app, "GET"):
            if path in public:
                continue
            response = await client.get(path)
            assert response.status_code == 303, (path, response.status_code)
            assert response.headers["location"].startswith("/app/sign-in?next="), path


@pytest.mark.parametrize("path", ["/app/static/console.css", "/app/static/console.js"])
async def test_the_consoles_assets_are_served_here(app: FastAPI, path: str) -> None:
    async with browser(app) as client:
        response = await client.get(path)
        assert response.status_code == 200
        assert "http://" not in response.text and "https://" not in response.text
