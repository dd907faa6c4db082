"""The account's brand on the survey, thank-you and unsubscribe pages: its company name, its
logo from /brand/ and its colour through a stylesheet (the pages' CSP allows no inline style);
an account without them gets the pages as before."""

from __future__ import annotations

import hashlib
import re

import httpx
from fastapi import FastAPI

from opensure.accounts import service as accounts
from opensure.pages.security import SECURITY_HEADERS
from tests.conftest import Account
from tests.fixtures.images import png
from tests.surveys.conftest import create_request

LOGO = png(6, 2)


async def branded(app: FastAPI, account: Account) -> str:
    """Brand the account; the logo's path."""
    async with app.state.engine.begin() as conn:
        await accounts.update_settings(
            conn, account.id, {"display_name": "Acme & Sons", "brand_colour": "#7a1fa2"}
        )
        return str((await accounts.set_logo(conn, account.id, LOGO))["path"])


def theme_links(page: str) -> list[str]:
    return re.findall(r'<link rel="stylesheet" href="(/brand/[^"]+)">', page)


def logos(page: str) -> list[str]:
    return re.findall(r'<p class="brand-logo"><img src="([^"]+)" alt="">', page)


async def test_survey_thanks_and_unsubscribe_pages_show_the_brand(
    app: FastAPI, account: Account, client: httpx.AsyncClient
) -> None:
    path = await branded(app, account)
    assert path == f"/brand/{account.id}/logo-{hashlib.sha256(LOGO).hexdigest()[:12]}.png"
    code = account.survey["code"]
    _, token = await create_request(app, account)
    pages = [
        await client.get(f"/s/{code}"),
        await client.get(f"/s/{code}", params={"t": token}),
        await client.get(f"/s/{code}/thanks"),
        await client.get(f"/u/{token}"),
    ]
    for page in pages:
        assert page.status_code == 200, page.text
        assert theme_links(page.text) == ["/brand/theme1-7a1fa2.css"]
        assert logos(page.text) == [path]
        assert "Acme &amp; Sons" in page.text
        assert account.name not in page.text
        assert '<body class="brand-bar">' in page.text
        # Still the pages' strict policy: no inline style was needed.
        csp = page.headers["content-security-policy"]
        assert csp == SECURITY_HEADERS["Content-Security-Policy"]
        assert "style=" not in page.text
    # The survey page names the company above its title.
    assert '<p class="company">Acme &amp; Sons</p>' in pages[0].text

    theme = await client.get("/brand/theme1-7a1fa2.css")
    assert "--accent: #7a1fa2; --accent-ink: #ffffff;" in theme.text
    assert (await client.get(path)).content == LOGO


async def test_pages_without_a_brand_are_as_before(
    app: FastAPI, account: Account, client: httpx.AsyncClient
) -> None:
    page = await client.get(f"/s/{account.survey['code']}")
    assert page.status_code == 200
    assert theme_links(page.text) == []
    assert logos(page.text) == []
    assert "<body>" in page.text
    assert f'<p class="company">{account.name}</p>' in page.text
