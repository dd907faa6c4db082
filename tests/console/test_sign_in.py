"""Signing in and out, sessions, CSRF, roles' basics and one-time password links (SPEC §8),
on SQLite and PostgreSQL, through the real app."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import secrets

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from opensure.app import create_app
from opensure.config import Settings
from opensure.core.clock import utcnow
from opensure.dispatch.housekeeping import Housekeeping
from opensure.users import service as users
from tests.conftest import Account, make_account
from tests.console.conftest import (
    PASSWORD,
    add_user,
    browser,
    csrf,
    form_with_action,
    session_of,
    sign_in,
)

COOKIE = "opensure_session"


def session_cookie(response: httpx.Response) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE + "=")]
    assert len(headers) == 1, response.headers
    return headers[0]


async def test_sign_in_sets_a_session_cookie_and_opens_the_console(
    app: FastAPI, account: Account
) -> None:
    user = await add_user(app, account, "admin")
    async with browser(app) as client:
        form = await client.get("/app/sign-in")
        assert form.status_code == 200
        assert 'name="email"' in form.text and 'name="password"' in form.text
        response = await sign_in(client, user["email"], PASSWORD)
        assert response.status_code == 303
        assert response.headers["location"] == "/app/"
        cookie = session_cookie(response)
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
        assert "Path=/app/" in cookie
        assert "Secure" not in cookie  # the public URL is http here
        value = cookie.split(";")[0].split("=", 1)[1]
        assert len(value) >= 40  # a random id, nothing else
        page = await client.get("/app/account")
        assert page.status_code == 200
        assert user["email"] in page.text
        assert account.name in page.text


async def test_cookie_is_secure_when_the_public_url_is_https(db_url: str, account: Account) -> None:
    application = create_app(Settings(database_url=db_url, public_url="https://feedback.test"))
    async with application.router.lifespan_context(application):
        user = await add_user(application, account)
        async with browser(application) as client:
            response = await sign_in(client, user["email"], PASSWORD)
            assert response.status_code == 303
            assert "Secure" in session_cookie(response)


async def test_unknown_email_and_wrong_password_get_the_same_answer(
    app: FastAPI, account: Account
) -> None:
    user = await add_user(app, account)
    async with browser(app, "127.0.1.1") as client:
        wrong = await sign_in(client, user["email"], "not the password")
        unknown = await sign_in(client, "nobody-" + user["email"], PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "The e-mail address or password is not right." in response.text
        assert COOKIE not in response.headers.get("set-cookie", "")
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", wrong.text.replace(user["email"], "")) == strip.sub(
        "", unknown.text.replace("nobody-" + user["email"], "")
    )


async def test_sign_in_without_the_forms_token_is_refused(app: FastAPI, account: Account) -> None:
    user = await add_user(app, account)
    async with browser(app) as client:
        response = await client.post(
            "/app/sign-in", data={"email": user["email"], "password": PASSWORD}
        )
        assert response.status_code == 403
        assert COOKIE not in response.headers.get("set-cookie", "")
        forged = await client.post(
            "/app/sign-in",
            data={"email": user["email"], "password": PASSWORD, "form_token": "1.abc"},
        )
        assert forged.status_code == 403


async def test_failures_are_throttled_per_email(app: FastAPI, account: Account) -> None:
    user = await add_user(app, account)
    async with browser(app, "127.0.2.1") as client:
        for _ in range(users.MAX_FAILURES_PER_EMAIL):
            assert (await sign_in(client, user["email"], "wrong password")).status_code == 401
    # From another address too, and even with the right password: the e-mail is locked.
    async with browser(app, "127.0.2.2") as client:
        blocked = await sign_in(client, user["email"], PASSWORD)
        assert blocked.status_code == 401
        assert "Too many attempts" in blocked.text
        assert COOKIE not in blocked.headers.get("set-cookie", "")
    # Another user is not affected.
    other = await add_user(app, account)
    async with browser(app, "127.0.2.3") as client:
        assert (await sign_in(client, other["email"], PASSWORD)).status_code == 303


async def test_failures_are_throttled_per_client_address(app: FastAPI, account: Account) -> None:
    user = await add_user(app, account)
    address = f"127.0.3.{secrets.randbelow(200) + 1}"
    async with browser(app, address) as client:
        for i in range(users.MAX_FAILURES_PER_ADDRESS):
            response = await sign_in(
                client, f"guess{i}-{secrets.token_hex(3)}@example.com", "x" * 12
            )
            assert response.status_code == 401
        blocked = await sign_in(client, user["email"], PASSWORD)
        assert blocked.status_code == 401 and "Too many attempts" in blocked.text
    async with browser(app, "127.0.3.250") as client:
        assert (await sign_in(client, user["email"], PASSWORD)).status_code == 303


async def test_a_session_id_set_before_sign_in_is_not_kept(app: FastAPI, account: Account) -> None:
    user = await add_user(app, account)
    async with browser(app) as client:
        client.cookies.set(COOKIE, "attacker-chosen-session-id", domain="testserver", path="/app/")
        response = await sign_in(client, user["email"], PASSWORD)
        assert response.status_code == 303
        new = session_cookie(response).split(";")[0].split("=", 1)[1]
        assert new != "attacker-chosen-session-id"
    # A real earlier session of the browser ends when it signs in again.
    async with session_of(app, account) as first:
        old = first.cookies.get(COOKIE)
        # A signed-in browser is sent on from the form; post one served to another.
        async with browser(app) as fresh:
            fields = form_with_action((await fresh.get("/app/sign-in")).text, "/app/sign-in")
        fields.update(email=first.user["email"], password=PASSWORD)  # type: ignore[attr-defined]
        again = await first.post("/app/sign-in", data=fields)
        assert session_cookie(again).split(";")[0].split("=", 1)[1] != old
        async with browser(app) as replay:
            replay.cookies.set(COOKIE, old, domain="testserver", path="/app/")
            assert (await replay.get("/app/account")).status_code == 303


async def test_sign_out_ends_the_session_on_the_server(app: FastAPI, account: Account) -> None:
    async with session_of(app, account) as client:
        cookie = client.cookies.get(COOKIE)
        token = await csrf(client)
        assert (await client.post("/app/sign-out", data={})).status_code == 403
        out = await client.post("/app/sign-out", data={"csrf_token": token})
        assert out.status_code == 303
        assert out.headers["location"].startswith("/app/sign-in")
    async with browser(app) as replay:
        replay.cookies.set(COOKIE, cookie, domain="testserver", path="/app/")
        page = await replay.get("/app/account")
        assert page.status_code == 303
        assert page.headers["location"].startswith("/app/sign-in")


async def test_signed_out_visitors_are_sent_to_sign_in_and_back(
    app: FastAPI, account: Account
) -> None:
    user = await add_user(app, account)
    async with browser(app) as client:
        page = await client.get("/app/account")
        assert page.status_code == 303
        assert page.headers["location"] == "/app/sign-in?next=/app/account"
        back = await sign_in(client, user["email"], PASSWORD, next_path="/app/account")
        assert back.headers["location"] == "/app/account"
    for evil in ("https://evil.example/", "//evil.example/app/", "/app/\\evil", "javascript:x"):
        async with browser(app) as client:
            response = await sign_in(client, user["email"], PASSWORD, next_path=evil)
            assert response.headers["location"] == "/app/", evil


async def set_time(app: FastAPI, sql: str, when: dt.datetime, **params: str) -> None:
    """Move a stored time (``:t`` in ``sql``) as if it had passed (naive UTC on SQLite)."""
    async with app.state.engine.begin() as conn:
        value = when.replace(tzinfo=None) if conn.dialect.name == "sqlite" else when
        await conn.execute(text(sql), {"t": value, **params})


async def _age_session(app: FastAPI, cookie: str, column: str, delta: dt.timedelta) -> None:
    digest = hashlib.sha256(cookie.encode()).hexdigest()
    sql = f"UPDATE console_sessions SET {column} = :t WHERE id_hash = :h"
    await set_time(app, sql, utcnow() - delta, h=digest)


@pytest.mark.parametrize(
    ("column", "age"),
    [
        ("last_seen_at", dt.timedelta(hours=12, minutes=1)),
        ("created_at", dt.timedelta(days=14, minutes=1)),
    ],
    ids=["idle", "absolute"],
)
async def test_sessions_end_after_their_lifetimes(
    app: FastAPI, account: Account, column: str, age: dt.timedelta
) -> None:
    async with session_of(app, account) as client:
        assert (await client.get("/app/account")).status_code == 200
        await _age_session(app, client.cookies[COOKIE], column, age)
        page = await client.get("/app/account")
        assert page.status_code == 303
        assert page.headers["location"].startswith("/app/sign-in")


async def test_a_password_change_ends_the_users_other_sessions(
    app: FastAPI, account: Account
) -> None:
    user = await add_user(app, account)
    async with browser(app) as here, browser(app) as elsewhere:
        assert (await sign_in(here, user["email"], PASSWORD)).status_code == 303
        assert (await sign_in(elsewhere, user["email"], PASSWORD)).status_code == 303
        token = await csrf(here)
        fields = {
            "csrf_token": token,
            "current_password": PASSWORD,
            "confirm": "a new passphrase 2",
        }
        mismatch = await here.post(
            "/app/account/password", data={**fields, "new_password": "other one 1"}
        )
        assert mismatch.status_code == 422
        wrong = await here.post(
            "/app/account/password",
            data={**fields, "current_password": "nope", "new_password": "a new passphrase 2"},
        )
        assert wrong.status_code == 422
        assert "current password is not right" in wrong.text
        changed = await here.post(
            "/app/account/password", data={**fields, "new_password": "a new passphrase 2"}
        )
        assert changed.status_code == 200
        assert "Every other session of yours has ended" in changed.text
        assert (await here.get("/app/account")).status_code == 200
        assert (await elsewhere.get("/app/account")).status_code == 303
    async with browser(app, "127.0.4.1") as client:
        assert (await sign_in(client, user["email"], PASSWORD)).status_code == 401
        assert (await sign_in(client, user["email"], "a new passphrase 2")).status_code == 303


async def test_a_one_time_link_sets_the_password_once(app: FastAPI, account: Account) -> None:
    created = await add_user(app, account, "viewer", password=None)
    token = created["password_link_token"]
    path = f"/app/set-password/{token}"
    async with browser(app) as client:
        page = await client.get(path)
        assert page.status_code == 200
        assert created["email"] in page.text
        fields = form_with_action(page.text, path)
        short = await client.post(path, data={**fields, "password": "short", "confirm": "short"})
        assert short.status_code == 422
        assert "at least 10 characters" in short.text
        differ = await client.post(
            path, data={**fields, "password": "first passphrase", "confirm": "second passphrase"}
        )
        assert differ.status_code == 422
        assert (
            await client.post(path, data={"password": "x" * 12, "confirm": "x" * 12})
        ).status_code == 403
        done = await client.post(
            path, data={**fields, "password": "my own passphrase", "confirm": "my own passphrase"}
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/app/sign-in?done=password"
        assert (await client.get(path)).status_code == 410
        again = await client.post(
            path, data={**fields, "password": "takeover attempt", "confirm": "takeover attempt"}
        )
        assert again.status_code == 410
        assert (await sign_in(client, created["email"], "my own passphrase")).status_code == 303


async def test_an_expired_link_sets_nothing(app: FastAPI, account: Account) -> None:
    created = await add_user(app, account, password=None)
    digest = hashlib.sha256(created["password_link_token"].encode()).hexdigest()
    sql = "UPDATE password_links SET expires_at = :t WHERE token_hash = :h"
    await set_time(app, sql, utcnow() - dt.timedelta(minutes=1), h=digest)
    async with browser(app) as client:
        assert (
            await client.get(f"/app/set-password/{created['password_link_token']}")
        ).status_code == 410
        assert (await client.get("/app/set-password/not-a-token")).status_code == 410


async def test_the_account_switcher_shows_only_the_users_accounts(
    app: FastAPI, account: Account, client: httpx.AsyncClient
) -> None:
    second = await make_account(app, client)
    stranger = await make_account(app, client)
    email = f"both-{secrets.token_hex(4)}@example.com"
    await add_user(app, account, "admin", email=email)
    await add_user(app, second, "viewer", email=email, password=None)
    async with browser(app) as me:
        assert (await sign_in(me, email, PASSWORD)).status_code == 303
        page = await me.get("/app/account")
        switch = form_with_action(page.text, "/app/switch-account")
        assert second.name in page.text and stranger.name not in page.text
        assert (
            await me.post("/app/switch-account", data={"account_id": str(second.id)})
        ).status_code == 403
        moved = await me.post("/app/switch-account", data={**switch, "account_id": str(second.id)})
        assert moved.status_code == 303
        now = await me.get("/app/account")
        assert re.search(rf"{re.escape(second.name)} <span class=\"badge\">shown now", now.text)
        refused = await me.post(
            "/app/switch-account", data={**switch, "account_id": str(stranger.id)}
        )
        assert refused.status_code == 404


async def test_console_pages_carry_the_security_headers(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    for path in ("/app/sign-in", "/app/account"):
        client = admin if path != "/app/sign-in" else browser(app)
        response = await client.get(path)
        assert response.status_code == 200
        csp = response.headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        for src in re.findall(r'(?:src|href)="([^"]+)"', response.text):
            assert src.startswith("/") or src.startswith("#"), src


async def test_unknown_console_paths_are_a_page_not_json(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/app/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


async def test_the_dispatchers_housekeeping_forgets_ended_sessions(
    app: FastAPI, account: Account
) -> None:
    """A session nobody comes back to is deleted by the housekeeping that runs beside every
    dispatcher (the app's own wiring), a live one is kept."""
    async with session_of(app, account) as ended, session_of(app, account) as live:
        ended_hash = hashlib.sha256(ended.cookies[COOKIE].encode()).hexdigest()
        live_hash = hashlib.sha256(live.cookies[COOKIE].encode()).hexdigest()
        await _age_session(app, ended.cookies[COOKIE], "last_seen_at", dt.timedelta(hours=13))
        keeper = Housekeeping(
            app.state.engine,
            first_delay=0,
            interval=3600,
            also=[users.housekeeping_job(app.state.settings)],
        )
        stop = asyncio.Event()
        task = asyncio.create_task(keeper.run(stop))
        try:
            for _ in range(200):
                if keeper.sweeps:
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task
        assert keeper.sweeps == 1
        async with app.state.engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT id_hash FROM console_sessions WHERE id_hash IN (:a, :b)"),
                {"a": ended_hash, "b": live_hash},
            )
            assert {r[0] for r in rows} == {live_hash}
        assert (await live.get("/app/account")).status_code == 200
