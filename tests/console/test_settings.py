"""The console's settings (/app/settings/users and /app/settings/tokens): an admin invites,
re-roles and removes users and creates and revokes API tokens, through the real app on SQLite
and PostgreSQL; viewers and other accounts get nothing."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from fastapi import FastAPI

from opensure.app import create_app
from opensure.config import Settings
from tests.conftest import BASE, MEDIA_TYPE, Account, make_account
from tests.console.conftest import (
    add_user,
    browser,
    form_with_action,
    session_of,
    sign_in,
)

USERS = "/app/settings/users"
TOKENS = "/app/settings/tokens"


async def post(client: httpx.AsyncClient, page: str, action: str, **fields: str) -> httpx.Response:
    """Post the form to ``action`` found on ``page``, with ``fields`` changed."""
    shown = await client.get(page)
    assert shown.status_code == 200, shown.text
    data = form_with_action(shown.text, action)
    data.update(fields)
    return await client.post(action, data=data)


def users_listed(page: httpx.Response) -> dict[str, tuple[str, str]]:
    """E-mail → (role, password) as the users table shows them."""
    rows = re.findall(
        r'<tr id="user-\d+">\s*<td><bdi>([^<]+)</bdi>.*?</td>\s*<td>(\w+)</td>\s*<td>(.*?)</td>',
        page.text,
        re.S,
    )
    return {html.unescape(e): (role, "set" if pw == "Set" else "not set") for e, role, pw in rows}


def user_id(page: httpx.Response, email: str) -> int:
    found = re.search(rf'<tr id="user-(\d+)">\s*<td><bdi>{re.escape(email)}</bdi>', page.text)
    assert found, f"{email} not listed"
    return int(found[1])


def api_headers(token: str) -> dict[str, str]:
    return {
        "User-Agent": "settings test",
        "Accept": MEDIA_TYPE,
        "Authorization": f'Token token="{token}"',
    }


# ---- users ---------------------------------------------------------------------------------


async def test_users_page_lists_the_accounts_users(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, other_account: Account
) -> None:
    await add_user(app, account, "viewer", email="vera@example.com", password=None)
    await add_user(app, other_account, "admin", email="stranger@example.com")
    page = await admin.get(USERS)
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert users_listed(page) == {
        admin.user["email"]: ("Admin", "set"),  # type: ignore[attr-defined]
        "vera@example.com": ("Viewer", "not set"),
    }
    assert 'href="/app/settings/users" aria-current="page">Settings<' in page.text


async def test_invite_a_new_user_whose_one_time_link_sets_a_password(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    made = await post(admin, USERS, USERS, email="Nina@Example.com", role="viewer")
    assert made.status_code == 200, made.text
    assert "will not be shown again" in made.text
    assert made.headers["cache-control"] == "no-store"
    link = re.search(rf"{re.escape(BASE)}(/app/set-password/[A-Za-z0-9_-]+)", made.text)
    assert link, made.text
    assert link[1] not in str(made.url) and "set-password" not in made.headers.get("location", "")
    assert users_listed(made)["Nina@Example.com"] == ("Viewer", "not set")
    # The link is not on the page again.
    assert link[1] not in (await admin.get(USERS)).text
    async with browser(app) as nina:
        form = form_with_action((await nina.get(link[1])).text, link[1])
        form.update(password="nina's long passphrase", confirm="nina's long passphrase")
        assert (await nina.post(link[1], data=form)).status_code == 303
        signed = await sign_in(nina, "nina@example.com", "nina's long passphrase")
        assert signed.status_code == 303
        # A viewer: Settings leads to what a viewer may read, never to users or tokens.
        queue_page = (await nina.get("/app/queue")).text
        assert 'href="/app/settings/staff">Settings' in queue_page
        assert USERS not in queue_page and TOKENS not in queue_page
    assert users_listed(await admin.get(USERS))["Nina@Example.com"] == ("Viewer", "set")


async def test_invite_of_another_accounts_user_adds_them_without_a_link(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, other_account: Account
) -> None:
    await add_user(app, other_account, "admin", email="olga@example.com")
    made = await post(admin, USERS, USERS, email="olga@example.com", role="admin")
    assert made.status_code == 303
    assert made.headers["location"] == f"{USERS}?done=invited"
    page = await admin.get(made.headers["location"])
    assert "The user is added to this account." in page.text
    assert "set-password" not in page.text
    assert users_listed(page)["olga@example.com"] == ("Admin", "set")


@pytest.mark.parametrize(
    ("email", "role", "message"),
    [
        ("not-an-address", "viewer", "is not a valid e-mail address"),
        ("x@example.com", "owner", "Role: choose Admin or Viewer."),
        ("", "viewer", "is not a valid e-mail address"),
    ],
)
async def test_a_bad_invite_is_shown_on_the_page(
    admin: httpx.AsyncClient, email: str, role: str, message: str
) -> None:
    refused = await post(admin, USERS, USERS, email=email, role=role)
    assert refused.status_code == 422
    assert message in html.unescape(refused.text)
    assert 'role="alert"' in refused.text
    assert "x@example.com" not in users_listed(refused)


async def test_an_existing_user_of_this_account_is_not_invited_twice(
    admin: httpx.AsyncClient,
) -> None:
    email = admin.user["email"]  # type: ignore[attr-defined]
    refused = await post(admin, USERS, USERS, email=email, role="viewer")
    assert refused.status_code == 422
    assert "already a user of this account" in refused.text


async def test_change_role_and_the_last_admin_stays(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    me = admin.user["email"]  # type: ignore[attr-defined]
    page = await admin.get(USERS)
    my_id = user_id(page, me)
    # The only admin can neither be demoted nor removed.
    demote = await post(admin, USERS, f"{USERS}/{my_id}/role", role="viewer")
    assert demote.status_code == 409
    assert "only admin" in demote.text
    removed = await post(admin, USERS, f"{USERS}/{my_id}/remove")
    assert removed.status_code == 409
    assert "only admin" in removed.text
    assert users_listed(await admin.get(USERS))[me] == ("Admin", "set")

    await add_user(app, account, "viewer", email="vic@example.com")
    vic = user_id(await admin.get(USERS), "vic@example.com")
    promoted = await post(admin, USERS, f"{USERS}/{vic}/role", role="admin")
    assert promoted.status_code == 303
    page = await admin.get(promoted.headers["location"])
    assert "The role is changed." in page.text
    assert users_listed(page)["vic@example.com"] == ("Admin", "set")
    # With a second admin, this one may step down.
    assert (await post(admin, USERS, f"{USERS}/{my_id}/role", role="viewer")).status_code == 303
    assert (await admin.get(USERS)).status_code == 403


async def test_remove_a_user_ends_their_session(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    async with session_of(app, account, "viewer", email="vince@example.com") as vince:
        assert (await vince.get("/app/queue")).status_code == 200
        vid = user_id(await admin.get(USERS), "vince@example.com")
        removed = await post(admin, USERS, f"{USERS}/{vid}/remove")
        assert removed.status_code == 303
        page = await admin.get(removed.headers["location"])
        assert "is removed from this account" in page.text
        assert "vince@example.com" not in users_listed(page)
        assert (await vince.get("/app/queue")).status_code == 303


async def test_bad_role_on_change_is_422(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    await add_user(app, account, "viewer", email="val@example.com")
    vid = user_id(await admin.get(USERS), "val@example.com")
    refused = await post(admin, USERS, f"{USERS}/{vid}/role", role="owner")
    assert refused.status_code == 422
    assert "Role: choose Admin or Viewer." in refused.text


async def test_another_accounts_user_is_not_found(
    app: FastAPI, admin: httpx.AsyncClient, other_account: Account
) -> None:
    theirs = await add_user(app, other_account, "viewer", email="theirs@example.com")
    page = await admin.get(USERS)
    data = form_with_action(page.text, USERS)
    for action, extra in (
        (f"{USERS}/{theirs['id']}/role", {"role": "admin"}),
        (f"{USERS}/{theirs['id']}/remove", {}),
        (f"{USERS}/999999999/remove", {}),
        (f"{USERS}/abc/remove", {}),
    ):
        response = await admin.post(action, data={"csrf_token": data["csrf_token"], **extra})
        assert response.status_code == 404, action
    async with session_of(app, other_account, "admin") as other_admin:
        listed = users_listed(await other_admin.get(USERS))
        assert listed["theirs@example.com"] == ("Viewer", "set")


# ---- API tokens ----------------------------------------------------------------------------


async def test_create_use_and_revoke_a_token(db_url: str) -> None:
    # No token cache: a revoked token is refused on the next call.
    application = create_app(Settings(database_url=db_url, public_url=BASE, token_cache_seconds=0))
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url=BASE) as api,
    ):
        account = await make_account(application, api)
        async with session_of(application, account, "admin") as admin:
            made = await post(admin, TOKENS, TOKENS)
            assert made.status_code == 200
            assert "will not be shown again" in made.text
            assert made.headers["cache-control"] == "no-store"
            found = re.search(r'<code class="secret">([^<]+)</code>', made.text)
            assert found
            token = html.unescape(found[1])
            assert token not in (await admin.get(TOKENS)).text
            listed = await admin.get(TOKENS)
            ids = re.findall(r'<tr id="token-(\d+)">', listed.text)
            # Newest first: the new one above the account's first token.
            assert len(ids) == 2
            assert f"<code>{token[:10]}…</code>" in listed.text

            ok = await api.get("/feedback_requests", headers=api_headers(token))
            assert ok.status_code == 200, ok.text

            revoked = await post(admin, TOKENS, f"{TOKENS}/{ids[0]}/revoke")
            assert revoked.status_code == 303
            page = await admin.get(revoked.headers["location"])
            assert "The token is revoked" in page.text
            assert f"/app/settings/tokens/{ids[0]}/revoke" not in page.text
            refused = await api.get("/feedback_requests", headers=api_headers(token))
            assert refused.status_code == 401
            # The account's other token still works.
            still = await api.get("/feedback_requests", headers=api_headers(account.token))
            assert still.status_code == 200


async def test_another_accounts_token_is_not_found(
    app: FastAPI, admin: httpx.AsyncClient, other_account: Account
) -> None:
    async with session_of(app, other_account, "admin") as other_admin:
        theirs = re.findall(r'<tr id="token-(\d+)">', (await other_admin.get(TOKENS)).text)
        assert len(theirs) == 1
        token = form_with_action((await admin.get(TOKENS)).text, TOKENS)["csrf_token"]
        for path in (f"{TOKENS}/{theirs[0]}/revoke", f"{TOKENS}/999999999/revoke"):
            response = await admin.post(path, data={"csrf_token": token})
            assert response.status_code == 404, path
        assert "Active" in (await other_admin.get(TOKENS)).text
    response = await other_account.get("/feedback_requests")
    assert response.status_code == 200


# ---- who may ---------------------------------------------------------------------------------


async def test_viewers_get_403_on_every_settings_page_and_post(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient
) -> None:
    page = await viewer.get("/app/queue")
    assert USERS not in page.text and TOKENS not in page.text
    staff = await viewer.get("/app/settings/staff")
    assert staff.status_code == 200
    assert (
        USERS not in staff.text
        and TOKENS not in staff.text
        and "/app/settings/audit" not in staff.text
    )
    token = form_with_action(page.text, "/app/sign-out")["csrf_token"]
    someone = await add_user(app, account, "viewer", email="some@example.com")
    for path in (USERS, TOKENS):
        assert (await viewer.get(path)).status_code == 403, path
    for path, data in (
        (USERS, {"email": "new@example.com", "role": "admin"}),
        (f"{USERS}/{someone['id']}/role", {"role": "admin"}),
        (f"{USERS}/{someone['id']}/remove", {}),
        (TOKENS, {}),
        (f"{TOKENS}/1/revoke", {}),
    ):
        response = await viewer.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 403, path
    async with session_of(app, account, "admin") as admin:
        listed = users_listed(await admin.get(USERS))
        assert "new@example.com" not in listed and listed["some@example.com"][0] == "Viewer"
        assert len(re.findall(r'<tr id="token-', (await admin.get(TOKENS)).text)) == 1


async def test_a_post_without_the_csrf_token_is_refused(admin: httpx.AsyncClient) -> None:
    for path in (USERS, TOKENS):
        response = await admin.post(path, data={"email": "csrf@example.com", "role": "admin"})
        assert response.status_code == 403, path
    assert "csrf@example.com" not in (await admin.get(USERS)).text
    assert len(re.findall(r'<tr id="token-', (await admin.get(TOKENS)).text)) == 1


async def test_signed_out_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in (USERS, TOKENS):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/app/sign-in")
