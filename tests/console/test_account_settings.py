"""Account settings and branding (/app/settings/account) through the real app on SQLite and
PostgreSQL: each setting saved and shown, refused values shown beside their fields with
nothing saved, the logo uploaded, served from /brand/ and removed, viewers refused, and the
audit log's events."""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from opensure.accounts import service as accounts
from opensure.audit import service as audit
from tests.conftest import Account
from tests.console.conftest import csrf, form_with_action
from tests.fixtures.images import gif, padded_png, png

PAGE = "/app/settings/account"
LOGO = "/app/settings/account/logo"
REMOVE = "/app/settings/account/logo/remove"


async def settings_of(app: FastAPI, account: Account) -> dict[str, Any]:
    async with app.state.engine.connect() as conn:
        return await accounts.account_settings(conn, account.id)


async def events_of(app: FastAPI, account: Account) -> list[dict[str, Any]]:
    async with app.state.engine.connect() as conn:
        return await audit.events(conn, account.id, subject_type="account")


async def save(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    """Post the settings form as the page serves it, with ``fields`` changed."""
    page = await client.get(PAGE)
    assert page.status_code == 200, page.text
    data = form_with_action(page.text, PAGE)
    data.update(fields)
    return await client.post(PAGE, data=data)


async def upload(
    client: httpx.AsyncClient,
    data: bytes,
    filename: str = "logo.png",
    content_type: str = "image/png",
) -> httpx.Response:
    token = await csrf(client, PAGE)
    return await client.post(
        LOGO, data={"csrf_token": token}, files={"logo": (filename, data, content_type)}
    )


def value_of(page: str, field: str) -> str:
    found = re.search(rf'<input id="f-{field}" name="{field}"[^>]*value="([^"]*)"', page)
    assert found, f"no {field} field"
    return html.unescape(found[1])


def logo_src(page: str) -> str | None:
    found = re.search(r'<p class="logo-preview"><img src="([^"]+)"', page)
    return found[1] if found else None


async def test_page_shows_the_accounts_settings(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    page = await admin.get(PAGE)
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert 'href="/app/settings/account" aria-current="page">Account<' in page.text
    assert f"the account's name, <bdi>{html.escape(account.name)}</bdi>" in page.text
    assert value_of(page.text, "min_interval_days") == "0"
    for field in ("display_name", "link_back_template", "sender_name", "reply_to"):
        assert value_of(page.text, field) == ""
    assert "No logo" in page.text
    assert REMOVE not in page.text
    # The logo form is a multipart upload of images, labelled.
    assert 'enctype="multipart/form-data"' in page.text
    assert '<label for="f-logo">Upload a logo</label>' in page.text


async def test_each_setting_is_saved_shown_and_audited(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    r = await save(
        admin,
        display_name="  Acme Widgets Ltd ",
        min_interval_days="14",
        reminder_after_days="3",
        link_back_template="https://desk.example.com/tickets/{machine_id}",
        sender_name="Acme Customer Care",
        reply_to="care@acme.example",
        brand_colour="#1A7F37",
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"{PAGE}?done=saved"
    page = await admin.get(r.headers["location"])
    assert "The settings are saved." in page.text
    assert value_of(page.text, "display_name") == "Acme Widgets Ltd"
    assert value_of(page.text, "min_interval_days") == "14"
    assert value_of(page.text, "reminder_after_days") == "3"
    assert value_of(page.text, "link_back_template") == (
        "https://desk.example.com/tickets/{machine_id}"
    )
    assert value_of(page.text, "sender_name") == "Acme Customer Care"
    assert value_of(page.text, "reply_to") == "care@acme.example"
    assert value_of(page.text, "brand_colour") == "#1a7f37"
    # The saved colour's swatch, with white text (dark green).
    assert 'fill="#1a7f37"' in page.text and 'fill="#ffffff">Aa' in page.text

    stored = await settings_of(app, account)
    assert stored["display_name"] == "Acme Widgets Ltd"
    assert stored["name"] == account.name  # the unique name the CLI knows is unchanged
    assert stored["min_interval_days"] == 14
    assert stored["reminder_after_days"] == 3
    assert stored["brand_colour"] == "#1a7f37"

    [event] = await events_of(app, account)
    assert event["action"] == "account.updated"
    assert event["actor"] == admin.user["email"]  # type: ignore[attr-defined]
    assert event["before"] == {
        "display_name": None,
        "min_interval_days": 0,
        "reminder_after_days": 0,
        "link_back_template": None,
        "sender_name": None,
        "reply_to": None,
        "brand_colour": None,
    }
    assert event["after"]["min_interval_days"] == 14
    assert event["after"]["reminder_after_days"] == 3

    # Clearing one field changes (and records) only that field; the CLI sees the same values.
    r = await save(admin, sender_name="")
    assert r.status_code == 303
    latest = (await events_of(app, account))[0]
    assert latest["before"] == {"sender_name": "Acme Customer Care"}
    assert latest["after"] == {"sender_name": None}
    async with app.state.engine.connect() as conn:
        shown = await accounts.show_account(conn, str(account.id))
    assert shown["sender_name"] is None and shown["reply_to"] == "care@acme.example"
    # Saving unchanged values records nothing.
    assert (await save(admin)).status_code == 303
    assert len(await events_of(app, account)) == 2


BAD = {
    "display_name": ("Acme\nBcc: x", "one line"),
    "min_interval_days": ("-3", "whole number of days"),
    "reminder_after_days": ("366", "from 1 to 365; 0 sends none"),
    "link_back_template": ("javascript:alert({reference})", "https://"),
    "sender_name": ("x" * 101, "at most 100 characters"),
    "reply_to": ("not an address", "not an e-mail address"),
    "brand_colour": ("red", "six hexadecimal digits"),
}


@pytest.mark.parametrize("field", list(BAD))
async def test_a_refused_value_is_shown_beside_its_field_and_nothing_is_saved(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, field: str
) -> None:
    before = await settings_of(app, account)
    value, message = BAD[field]
    other = "display_name" if field == "sender_name" else "sender_name"
    r = await save(admin, **{other: "Would be saved", field: value})
    assert r.status_code == 422
    assert r.text.startswith("<!doctype html>")
    beside = re.search(rf'<p class="error" id="e-{field}">([^<]+)</p>', r.text)
    assert beside and message in html.unescape(beside[1])
    tag = re.search(rf'<input id="f-{field}"[^>]*>', r.text)
    assert tag and f'aria-describedby="e-{field} h-{field}"' in tag[0]
    assert 'aria-invalid="true"' in tag[0]
    assert f'<a href="#f-{field}">' in r.text  # the summary links to the field
    # What was typed is kept, the other fields too.
    assert value_of(r.text, other) == "Would be saved"
    assert await settings_of(app, account) == before
    assert await events_of(app, account) == []


async def test_every_problem_is_shown_at_once(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    r = await save(admin, **{f: v for f, (v, _) in BAD.items()})
    assert r.status_code == 422
    assert sorted(re.findall(r'<p class="error" id="e-(\w+)">', r.text)) == sorted(BAD)


async def test_a_viewer_can_neither_read_nor_change_the_settings(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient
) -> None:
    before = await settings_of(app, account)
    assert (await viewer.get(PAGE)).status_code == 403
    token = await csrf(viewer)
    r = await viewer.post(PAGE, data={"csrf_token": token, "brand_colour": "#000000"})
    assert r.status_code == 403
    assert "lets you read and export, not change" in html.unescape(r.text)
    r = await viewer.post(
        LOGO, data={"csrf_token": token}, files={"logo": ("a.png", png(), "image/png")}
    )
    assert r.status_code == 403
    assert (await viewer.post(REMOVE, data={"csrf_token": token})).status_code == 403
    assert await settings_of(app, account) == before
    assert await events_of(app, account) == []


async def test_an_upload_without_the_forms_token_is_refused(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    for forged in ("forged", "é-not-ascii", ""):
        r = await admin.post(
            LOGO, data={"csrf_token": forged}, files={"logo": ("a.png", png(), "image/png")}
        )
        assert r.status_code == 403, forged
    # A body that is not multipart at all (no fields, so no token): refused the same way.
    r = await admin.post(LOGO, content=png(), headers={"content-type": "image/png"})
    assert r.status_code == 403
    assert (await settings_of(app, account))["logo"] is None


async def test_a_logo_is_uploaded_served_replaced_and_removed(
    app: FastAPI, account: Account, other_account: Account, admin: httpx.AsyncClient
) -> None:
    first = png(8, 4)
    r = await upload(admin, first)
    assert r.status_code == 303, r.text
    page = await admin.get(r.headers["location"])
    assert "The logo is uploaded" in page.text
    sha = hashlib.sha256(first).hexdigest()
    path = f"/brand/{account.id}/logo-{sha[:12]}.png"
    assert logo_src(page.text) == path
    assert REMOVE in page.text

    served = await admin.get(path)
    assert served.status_code == 200
    assert served.content == first
    assert served.headers["content-type"] == "image/png"
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"] == "default-src 'none'"
    # Public: no session, no API headers needed.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as anyone:
        assert (await anyone.get(path)).content == first
        # Another account's id, another extension or a made-up hash: not found.
        for wrong in (
            path.replace(f"/{account.id}/", f"/{other_account.id}/"),
            path.replace(".png", ".gif"),
            f"/brand/{account.id}/logo-000000000000.png",
        ):
            assert (await anyone.get(wrong)).status_code == 404, wrong

    assert (await upload(admin, first)).status_code == 303  # the same file: no new event
    second = gif(3, 3)
    assert (await upload(admin, second, "logo.gif", "image/gif")).status_code == 303
    new_path = f"/brand/{account.id}/logo-{hashlib.sha256(second).hexdigest()[:12]}.gif"
    assert logo_src((await admin.get(PAGE)).text) == new_path
    assert (await admin.get(new_path)).headers["content-type"] == "image/gif"
    assert (await admin.get(path)).status_code == 404  # the old address is gone

    page = await admin.get(PAGE)
    r = await admin.post(REMOVE, data=form_with_action(page.text, REMOVE))
    assert r.status_code == 303
    page = await admin.get(r.headers["location"])
    assert "The logo is removed." in page.text and "No logo" in page.text
    assert (await admin.get(new_path)).status_code == 404

    events = list(reversed(await events_of(app, account)))
    assert [e["action"] for e in events] == [
        "account.logo_changed",
        "account.logo_changed",
        "account.logo_removed",
    ]
    assert events[0]["before"] is None
    assert events[0]["after"] == {"sha256": sha}
    assert events[1]["before"] == {"sha256": sha}
    assert events[2]["before"] == {"sha256": hashlib.sha256(second).hexdigest()}
    assert events[2]["after"] is None
    assert not any("bytes" in str(e) for e in events)


REFUSED = {
    "svg": (
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "logo.svg",
        "image/svg+xml",
        "SVG and other files are refused",
    ),
    "text named png": (b"just some text\n", "logo.png", "image/png", "must be a PNG, JPEG"),
    "too big": (padded_png(512 * 1024 + 1), "big.png", "image/png", "larger than 512 KiB"),
    "far too big": (padded_png(900 * 1024), "huge.png", "image/png", "larger than 512 KiB"),
    "too many pixels": (png(2001, 1), "wide.png", "image/png", "2001 by 1 pixels"),
    "no file": (b"", "", "application/octet-stream", "Choose a logo file"),
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_a_refused_logo_is_explained_and_not_stored(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, case: str
) -> None:
    data, filename, content_type, message = REFUSED[case]
    r = await upload(admin, data, filename, content_type)
    assert r.status_code == 422
    beside = re.search(r'<p class="error" id="e-logo">([^<]+)</p>', r.text)
    assert beside and message in html.unescape(beside[1]), r.text
    assert "The logo was not saved" in r.text
    assert (await settings_of(app, account))["logo"] is None
    assert await events_of(app, account) == []


async def test_the_largest_logo_allowed_is_taken(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    data = padded_png(512 * 1024)
    assert (await upload(admin, data)).status_code == 303
    logo = (await settings_of(app, account))["logo"]
    assert logo["sha256"] == hashlib.sha256(data).hexdigest()
    assert (await admin.get(logo["path"])).content == data


async def test_the_theme_stylesheet_carries_the_colour_and_readable_text(
    client: httpx.AsyncClient,
) -> None:
    dark = await client.get("/brand/theme1-1a7f37.css")
    assert dark.status_code == 200
    assert dark.headers["content-type"].startswith("text/css")
    assert dark.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "--accent: #1a7f37; --accent-ink: #ffffff;" in dark.text
    light = await client.get("/brand/theme1-ffd700.css")
    assert "--accent: #ffd700; --accent-ink: #000000;" in light.text
    for bad in ("/brand/theme1-red.css", "/brand/theme1-1A7F37.css", "/brand/theme1-1a7f37.js"):
        assert (await client.get(bad)).status_code == 404, bad
