"""An account's e-mail settings and brand in the survey e-mails a real dispatch sends over SMTP:
the From name (the address stays the installation's), Reply-To, the company name, the logo's
absolute URL and the colour; an account without them gets the e-mail as before."""

from __future__ import annotations

import hashlib
import re

import httpx
from fastapi import FastAPI

from opensure.accounts import service as accounts
from tests.conftest import BASE, Account
from tests.dispatch.support import SmtpServer, address, create_request, dispatch, parts
from tests.fixtures.images import png


async def brand(app: FastAPI, account: Account, logo: bytes | None = None, **settings: str) -> None:
    async with app.state.engine.begin() as conn:
        await accounts.update_settings(conn, account.id, settings)
        if logo is not None:
            await accounts.set_logo(conn, account.id, logo)


async def test_sender_name_reply_to_logo_and_colour_are_in_the_email(
    app: FastAPI, account: Account, smtp: SmtpServer, client: httpx.AsyncClient
) -> None:
    logo = png(10, 5)
    await brand(
        app,
        account,
        logo,
        display_name="Acme Widgets",
        sender_name="Acme Customer Care",
        reply_to="care@acme.example",
        brand_colour="#1a7f37",
    )
    to = address()
    await create_request(account, email=to, first_name="Kate")
    await dispatch(app, smtp.url)

    message = smtp.one_to(to)
    [sender] = message["From"].addresses
    assert sender.display_name == "Acme Customer Care"
    assert sender.addr_spec == "feedback@opensure.test"  # the installation's address
    [reply] = message["Reply-To"].addresses
    assert reply.addr_spec == "care@acme.example"

    text, html = parts(message)
    assert "Acme Widgets" in text  # the company name in e-mails is the display name
    logo_url = f"{BASE}/brand/{account.id}/logo-{hashlib.sha256(logo).hexdigest()[:12]}.png"
    img = re.search(r'<img src="([^"]+)" alt="([^"]*)"', html)
    assert img and img[1] == logo_url and img[2] == "Acme Widgets"
    assert html.index("<img") < html.index("<p>")  # at the top
    assert "border-top: 6px solid #1a7f37" in html
    # Dark green reads on white: the links are in the colour.
    assert re.search(r'<a href="http[^"]+/s/[^"]+" style="color: #1a7f37;">', html)
    assert "<img" not in text and "#1a7f37" not in text
    # The URL in the e-mail serves the logo.
    served = await client.get(logo_url.removeprefix(BASE))
    assert served.status_code == 200 and served.content == logo


async def test_a_light_colour_underlines_links_instead_of_colouring_their_text(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    await brand(app, account, brand_colour="#ffd700")
    to = address()
    await create_request(account, email=to)
    await dispatch(app, smtp.url)
    _, html = parts(smtp.one_to(to))
    assert "border-bottom: 3px solid #ffd700" in html
    # Not as a text colour (the one-click scale's cells may be filled with it: a background).
    assert re.search(r"(?<![\w-])color: #ffd700", html) is None


async def test_a_non_ascii_sender_name_is_encoded_and_cannot_add_headers(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    await brand(app, account, sender_name="Zoë's Café")
    to = address()
    await create_request(account, email=to)
    await dispatch(app, smtp.url)
    got = smtp.to(to)[0]
    from_line = re.search(rb"^From: (.*)$", got.raw, re.M)
    assert from_line and from_line[1].isascii() and b"=?utf-8?" in from_line[1]
    [sender] = got.message["From"].addresses
    assert sender.display_name == "Zoë's Café"
    assert sender.addr_spec == "feedback@opensure.test"


async def test_without_settings_the_email_is_as_before(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    to = address()
    await create_request(account, email=to)
    await dispatch(app, smtp.url)
    message = smtp.one_to(to)
    assert str(message["From"]) == "feedback@opensure.test"
    assert message["Reply-To"] is None
    text, html = parts(message)
    assert account.name in text
    assert "<img" not in html and "border-top" not in html
    assert re.search(r'<a href="http[^"]+/s/[^"]+">', html)
