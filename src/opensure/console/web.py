"""How console pages are rendered: templates, security headers, and the console's errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup, escape
from starlette.responses import RedirectResponse, Response

from opensure.api.validation import parse_path_id
from opensure.console.viewer import Viewer

PREFIX = "/app"
STATIC = Path(__file__).parent / "static"
CSRF_FIELD = "csrf_token"

SECURITY_HEADERS = {
    # No inline script or style, nothing from another host; forms post only here.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


@pass_context
def _csrf_field(context: Any) -> Markup:
    token = context.get("csrf_token") or ""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)


templates.env.globals["csrf_field"] = _csrf_field


def is_console(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


class NotFound(Exception):
    """No such object in the signed-in account (another account's objects included)."""


class Forbidden(Exception):
    """Not allowed: a viewer's change, or a post without the form's CSRF token."""

    def __init__(self, message: str = "You are not allowed to do this.") -> None:
        super().__init__(message)
        self.message = message


class SignInRequired(Exception):
    """No live session: the browser is sent to the sign-in form, and back afterwards."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def page(
    request: Request,
    viewer: Viewer | None,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> Response:
    full = {"viewer": viewer, "csrf_token": viewer.csrf_token if viewer else "", **context}
    response = templates.TemplateResponse(request, name, full, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def message_page(
    request: Request, viewer: Viewer | None, status_code: int, title: str, message: str
) -> Response:
    return page(request, viewer, "message.html", {"title": title, "message": message}, status_code)


def redirect(path: str) -> Response:
    """303 to a console path (always this site: a ``next`` parameter never leaves it)."""
    response = RedirectResponse(path, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path only, never another site."""
    if not value or not is_console(value.split("?")[0]) or value.startswith("//"):
        return PREFIX + "/"
    if any(c in value for c in "\\\r\n\t") or "://" in value:
        return PREFIX + "/"
    return value


def install(app: FastAPI) -> None:
    """The console's errors as pages: sign in, 403, 404."""

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return redirect(f"{PREFIX}/sign-in?next={quote(exc.next_path, safe='/')}")

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Forbidden)
        viewer = getattr(request.state, "viewer", None)
        return message_page(request, viewer, 403, "Not allowed", exc.message)

    async def not_found(request: Request, exc: Exception) -> Response:
        viewer = getattr(request.state, "viewer", None)
        return message_page(
            request, viewer, 404, "Not found", "There is nothing here in this account."
        )

    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(NotFound, not_found)


def form_text(form: Any, name: str) -> str:
    """A posted text field, stripped; "" when it is missing or a file."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def path_id(value: str) -> int:
    """An object id from a console path; anything else is no such object (404)."""
    found = parse_path_id(value)
    if found is None:
        raise NotFound
    return found


def text(value: object) -> str:
    """Escaped text, for the rare string built outside a template."""
    return str(escape(value))
