"""Who is signed in: the session cookie, the viewer of a page, roles and the CSRF check."""

from __future__ import annotations

import hmac
import io
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
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
from opensure.users import service as users

__all__ = ["Membership", "Viewer"]

COOKIE = "opensure_session"
MAX_FORM_BYTES = 256 * 1024
MAX_MULTIPART_FIELDS = 20


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


def _text(raw: str) -> str:
    # The e-mail parser reads header bytes as ASCII with surrogates; browsers send UTF-8.
    try:
        return raw.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return raw.encode("utf-8", "replace").decode("utf-8")


def multipart_pairs(content_type: str, body: bytes) -> list[tuple[str, str | UploadFile]]:
    """The fields of a multipart/form-data body (files as UploadFile, in memory), read by the
    standard library's MIME parser; a body it cannot read gives no fields."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        return []
    pairs: list[tuple[str, str | UploadFile]] = []
    for part in list(message.iter_parts())[:MAX_MULTIPART_FIELDS]:
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_param("filename", header="content-disposition")
        if isinstance(filename, str):
            upload = UploadFile(
                io.BytesIO(data),
                size=len(data),
                filename=_text(filename),
                headers=Headers({"content-type": part.get_content_type()}),
            )
            pairs.append((_text(name), upload))
        else:
            pairs.append((_text(name), data.decode("utf-8", "replace")))
    return pairs


async def posted_form(request: Request, max_bytes: int = MAX_FORM_BYTES) -> FormData:
    """A url-encoded or multipart form, at most ``max_bytes`` (413 beyond, 408 if it stalls)."""
    body = await read_body(request, max_bytes)
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == "multipart/form-data":
        return FormData(multipart_pairs(content_type, body))
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
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, viewer.csrf_token):
        raise Forbidden(
            "This form has expired or did not come from this site. "
            "Go back, reload the page and try again."
        )
    return form


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
