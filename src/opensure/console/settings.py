"""Settings (admins only): the account's users and roles, and its API tokens.

An admin invites a user by e-mail with a role (a new user gets a one-time link to set a
password), changes a role, removes a user (never the account's last admin: the rule is in
``users.service``), creates an API token and revokes one. A one-time link or a new token is
shown once, in the response to the POST that made it, never in a URL. Every other change
redirects back to the page with a notice.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from opensure.accounts import service as accounts
from opensure.api.deps import read, transaction
from opensure.audit import service as audit
from opensure.console import web
from opensure.console.session import Viewer, checked_form, require_admin, signed_in
from opensure.console.viewer import record
from opensure.core.clock import utcnow
from opensure.core.errors import AdminError
from opensure.core.links import set_password_link
from opensure.core.tokens import SHOWN_PREFIX_LENGTH
from opensure.users import service as users

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
SignedIn = Annotated[Viewer, Depends(signed_in)]

USERS = f"{web.PREFIX}/settings/users"
TOKENS = f"{web.PREFIX}/settings/tokens"
ROLE_NAMES = {"admin": "Admin", "viewer": "Viewer"}
# What a redirect's ``done`` says on the page (fixed sentences: nothing typed goes in a URL).
NOTICES = {
    "invited": "The user is added to this account.",
    "role": "The role is changed.",
    "removed": "The user is removed from this account; their sessions in it have ended.",
    "revoked": "The token is revoked: API calls with it are refused within seconds.",
}


def _notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("done") or "")


_field = web.form_text
_id = web.path_id


# ---- users ----


async def _users_page(
    request: Request,
    viewer: Viewer,
    *,
    problem: str | None = None,
    typed: dict[str, str] | None = None,
    invited: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    async with read(request) as conn:
        rows = await users.list_users(conn, viewer.account_id)
    context = {
        "title": "Users and roles",
        "nav": "settings",
        "rows": rows,
        "roles": ROLE_NAMES,
        "problem": problem,
        "typed": typed or {"email": "", "role": "viewer"},
        "invited": invited,
        "notice": None if problem or invited else _notice(request),
    }
    return web.page(request, viewer, "settings_users.html", context, status_code)


@router.get("/settings/users")
async def users_page(request: Request, viewer: SignedIn) -> Response:
    """The account's users: e-mail, role, whether a password is set; the admin's forms."""
    require_admin(viewer)
    return await _users_page(request, viewer)


@router.post("/settings/users")
async def invite(request: Request, viewer: SignedIn) -> Response:
    """Add a user by e-mail with a role; a new user's one-time link is shown on this response."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    typed = {"email": _field(form, "email"), "role": _field(form, "role")}
    if typed["role"] not in users.ROLES:
        return await _users_page(
            request,
            viewer,
            problem="Role: choose Admin or Viewer.",
            typed=typed,
            status_code=422,
        )
    try:
        async with transaction(request) as conn:
            made = await users.create_user(
                conn,
                viewer.account_id,
                email=typed["email"],
                role=typed["role"],
                password=None,
                now=utcnow(),
            )
            await audit.record(
                conn,
                viewer.account_id,
                viewer.actor,
                "user.invited",
                subject_type="user",
                subject_id=made["id"],
                subject=f"User {made['email']}",
                after={"email": made["email"], "role": made["role"]},
            )
    except AdminError as exc:
        return await _users_page(request, viewer, problem=str(exc), typed=typed, status_code=422)
    token = made.pop("password_link_token", None)
    if token is None:
        # Already a user elsewhere, with a password: nothing to show once.
        return web.redirect(f"{USERS}?done=invited")
    made["link"] = set_password_link(request.app.state.settings.public_base, token)
    return await _users_page(request, viewer, invited=made)


async def _record_user(
    conn: AsyncConnection,
    viewer: Viewer,
    action: str,
    before: dict[str, Any],
    after: dict[str, Any] | None,
) -> None:
    def fields(user: dict[str, Any]) -> dict[str, Any]:
        return {"email": user["email"], "role": user["role"]}

    await record(
        conn,
        viewer,
        action,
        f"User {before['email']}",
        subject_id=before["id"],
        before=fields(before),
        after=None if after is None else fields(after),
    )


async def _member(request: Request, viewer: Viewer, user_id: str) -> str:
    async with read(request) as conn:
        email = await users.member_email(conn, viewer.account_id, _id(user_id))
    if email is None:
        raise web.NotFound
    return email


@router.post("/settings/users/{user_id}/role")
async def change_role(request: Request, user_id: str, viewer: SignedIn) -> Response:
    """Change a user's role (the last admin stays an admin)."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    email = await _member(request, viewer, user_id)
    role = _field(form, "role")
    if role not in users.ROLES:
        return await _users_page(
            request, viewer, problem="Role: choose Admin or Viewer.", status_code=422
        )
    try:
        async with transaction(request) as conn:
            before = await users.show_user(conn, viewer.account_id, email)
            after = await users.change_role(conn, viewer.account_id, email, role)
            await _record_user(conn, viewer, "user.role_changed", before, after)
    except AdminError as exc:
        return await _users_page(request, viewer, problem=str(exc), status_code=409)
    return web.redirect(f"{USERS}?done=role")


@router.post("/settings/users/{user_id}/remove")
async def remove(request: Request, user_id: str, viewer: SignedIn) -> Response:
    """Remove a user from the account (never its last admin)."""
    await checked_form(request, viewer)
    require_admin(viewer)
    email = await _member(request, viewer, user_id)
    try:
        async with transaction(request) as conn:
            before = await users.show_user(conn, viewer.account_id, email)
            await users.remove_user(conn, viewer.account_id, email)
            await _record_user(conn, viewer, "user.removed", before, None)
    except AdminError as exc:
        return await _users_page(request, viewer, problem=str(exc), status_code=409)
    return web.redirect(f"{USERS}?done=removed")


# ---- API tokens ----


async def _tokens_page(request: Request, viewer: Viewer, *, created: str | None = None) -> Response:
    async with read(request) as conn:
        rows = await accounts.list_tokens(conn, viewer.account_id)
    context = {
        "title": "API tokens",
        "nav": "settings",
        "rows": rows,
        "created": created,
        "notice": None if created else _notice(request),
    }
    return web.page(request, viewer, "settings_tokens.html", context)


@router.get("/settings/tokens")
async def tokens_page(request: Request, viewer: SignedIn) -> Response:
    """The account's tokens by prefix, with when each was created and revoked."""
    require_admin(viewer)
    return await _tokens_page(request, viewer)


@router.post("/settings/tokens")
async def create_token(request: Request, viewer: SignedIn) -> Response:
    """A new token, shown once on this response (never in a URL)."""
    await checked_form(request, viewer)
    require_admin(viewer)
    async with transaction(request) as conn:
        token = await accounts.create_token(conn, viewer.account_id)
        prefix = token[:SHOWN_PREFIX_LENGTH]
        await audit.record(
            conn,
            viewer.account_id,
            viewer.actor,
            "token.created",
            subject_type="token",
            subject_id=None,
            subject=f"API token {prefix}…",
            after={"prefix": prefix},
        )
    return await _tokens_page(request, viewer, created=token)


@router.post("/settings/tokens/{token_id}/revoke")
async def revoke_token(request: Request, token_id: str, viewer: SignedIn) -> Response:
    """Revoke one of the account's tokens (another account's: 404)."""
    await checked_form(request, viewer)
    require_admin(viewer)
    found = _id(token_id)
    async with transaction(request) as conn:
        revoked = await accounts.revoke_token_id(conn, viewer.account_id, found)
        if revoked is not None and revoked["revoked_at"] is None:
            await audit.record(
                conn,
                viewer.account_id,
                viewer.actor,
                "token.revoked",
                subject_type="token",
                subject_id=found,
                subject=f"API token {revoked['prefix']}…",
                before={"prefix": revoked["prefix"], "state": "active"},
                after={"prefix": revoked["prefix"], "state": "revoked"},
            )
    if revoked is None:
        raise web.NotFound
    return web.redirect(f"{TOKENS}?done=revoked")
