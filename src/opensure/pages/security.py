"""What every survey and unsubscribe page response carries, and the bare page for failures."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from starlette.responses import HTMLResponse

from opensure.core.languages import negotiate
from opensure.core.translations import translator

PAGE_PREFIXES = ("/s/", "/u/")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Survey links carry the customer's token: never leak it to other sites.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

# A survey's preview (/s/{code}?preview=1) is shown inside the console's preview page: framed
# by this site only.
PREVIEW_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": SECURITY_HEADERS["Content-Security-Policy"].replace(
        "frame-ancestors 'none'", "frame-ancestors 'self'"
    ),
    "X-Frame-Options": "SAMEORIGIN",
}


def is_page(path: str) -> bool:
    return path.startswith(PAGE_PREFIXES)


def bare_page(
    status_code: int,
    title: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    accept_language: str | None = None,
) -> HTMLResponse:
    """A self-contained page for when the templates or the database cannot be relied on, in
    the browser's language (the catalogs are in memory: no database needed)."""
    tr = translator(negotiate(accept_language))
    title, message = tr.gettext(title), tr.gettext(message)
    body = (
        f'<!doctype html><html lang="{tr.lang}" dir="{tr.dir}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="/static/survey.css"></head>'
        f'<body><main class="page"><h1>{escape(title)}</h1>'
        f'<p class="lead">{escape(message)}</p></main></body></html>'
    )
    return HTMLResponse(body, status_code, {**SECURITY_HEADERS, **(headers or {})})
