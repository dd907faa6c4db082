"""Who is signed in: the session cookie, the viewer of a page, roles and the CSRF check."""

from __future__ import annotations

import hmac
import io
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.datastructures import FormData, Headers, UploadFile
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


def _upload_file(upload: Upload) -> UploadFile:
    return UploadFile(
        io.BytesIO(upload.data),
        size=len(upload.data),
        filename=upload.filename,
        headers=Headers({"content-type": upload.content_type}),
    )


async def posted_form(request: Request, max_bytes: int = MAX_FORM_BYTES) -> FormData:
    """A url-encoded or multipart form, at most ``max_bytes`` (413 beyond, 408 if it stalls)."""
    body = await read_body(request, max_bytes)
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == "multipart/form-data":
        return FormData(
            [
                (name, _upload_file(value) if isinstance(value, Upload) else value)
                for name, value in parse_multipart(body, content_type)
            ]
        )
    try:
        pairs: list[tuple[str, str | UploadFile]] = list(
            parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=1000)
        )
    except (UnicodeDecodeError, ValueError):
        pairs = []
    return FormData(pairs)


async def checked_form(
    request: Request, viewer: Viewer, *, max_bytes: int = MAX_FORM_BYTES
) -> FormData:
    """The posted form (url-encoded, or multipart with files up to ``max_bytes`` in all), if it
    carries this session's CSRF token; otherwise 403."""
    form = await posted_form(request, max_bytes)
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
