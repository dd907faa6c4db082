"""Who is signed in: the session cookie, the viewer of a page, roles and the CSRF check."""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from opensure.api.deps import read, transaction
from opensure.api.request import read_body
from opensure.config import Settings
from opensure.console.viewer import Membership, Viewer
from opensure.console.web import CSRF_FIELD, PREFIX, Forbidden, SignInRequired
from opensure.core.clock import utcnow
from opensure.core.formdata import Upload, parse_multipart
from opensure.users import service as users

__all__ = ["Membership", "Viewer"]

COOKIE = "opensure_session"
MAX_FORM_BYTES = 256 * 1024


async def current(request: Request) -> Viewer | None:
    """The viewer behind the request's cookie, or None."""
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 100:
        return None
    now = utcnow()
    settings: Settings = request.app.state.settings
    async with read(request) as conn:
        found = await users.load_session(conn, raw, now, users.Lifetimes.of(settings))
    if found is None:
        return None
    if found.state != "live":
        async with transaction(request) as conn:
            await users.after_load(conn, raw, found.state, now)
        if found.state == "ended":
            return None
    row = found.row
    viewer = Viewer(
        user_id=int(row["user_id"]),
        email=str(row["email"]),
        account_id=int(row["account_id"]),
        account_name=str(row["account_name"]),
        role=str(row["role"]),
        csrf_token=str(row["csrf_token"]),
        memberships=tuple(
            Membership(int(m["account_id"]), str(m["account_name"]), str(m["role"]))
            for m in found.memberships
        ),
        session=raw,
    )
    request.state.viewer = viewer
    return viewer


async def signed_in(request: Request) -> Viewer:
    """FastAPI dependency: the viewer, or a redirect to the sign-in form (and back)."""
    viewer = await current(request)
    if viewer is None:
        path = request.url.path
        if request.url.query and request.method == "GET":
            path += "?" + request.url.query
        raise SignInRequired(path if request.method == "GET" else PREFIX + "/")
    return viewer


def require_admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden("Your role in this account (viewer) lets you read and export, not change.")


async def posted_form(request: Request) -> FormData:
    """A url-encoded form, at most MAX_FORM_BYTES (413 beyond, 408 if it stalls)."""
    body = await read_body(request, MAX_FORM_BYTES)
    try:
        pairs: list[tuple[str, str | UploadFile]] = list(
            parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=1000)
        )
    except (UnicodeDecodeError, ValueError):
        pairs = []
    return FormData(pairs)


async def checked_form(request: Request, viewer: Viewer) -> FormData:
    """The posted form, if it carries this session's CSRF token; otherwise 403."""
    form = await posted_form(request)
    _check_csrf(form.get(CSRF_FIELD), viewer)
    return form


async def checked_upload(request: Request, viewer: Viewer, limit: int) -> dict[str, str | Upload]:
    """A multipart form (with a file) of at most ``limit`` bytes (413 beyond), if it carries
    this session's CSRF token; otherwise 403. The first value of each field."""
    body = await read_body(request, limit)
    fields: dict[str, str | Upload] = {}
    for name, value in parse_multipart(body, request.headers.get("content-type", "")):
        fields.setdefault(name, value)
    _check_csrf(fields.get(CSRF_FIELD), viewer)
    return fields


def _check_csrf(sent: object, viewer: Viewer) -> None:
    if not isinstance(sent, str) or not sent.isascii():
        sent = ""
    if not hmac.compare_digest(sent, viewer.csrf_token):
        raise Forbidden(
            "This form has expired or did not come from this site. "
            "Go back, reload the page and try again."
        )


def set_cookie(response: Response, settings: Settings, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=settings.session_max_hours * 3600,
        path=PREFIX + "/",
        httponly=True,
        samesite="lax",
        secure=settings.public_url.startswith("https:"),
    )


def clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        COOKIE,
        path=PREFIX + "/",
        httponly=True,
        samesite="lax",
        secure=settings.public_url.startswith("https:"),
    )
