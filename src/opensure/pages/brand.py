"""Public brand files: an account's logo and the survey pages' theme stylesheet, both under
``/brand/`` (``core.branding`` makes their addresses).

Both are content-addressed (the logo by its hash, the theme by its colour), so they are sent
as cacheable for a year and immutable: a new logo or colour has a new address. A logo is served
only while it is the account's logo, with its own content type, ``nosniff`` (a browser never
reads it as anything else) and a policy that lets nothing in it run.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from starlette.responses import Response

from opensure.accounts import service as accounts
from opensure.api.deps import read
from opensure.core import branding

router = APIRouter(include_in_schema=False)

LOGO_NAME = re.compile(r"logo-(?P<sha>[0-9a-f]{12})\.(?P<ext>[a-z]{3,4})")
THEME_NAME = re.compile(rf"theme{branding.THEME_VERSION}-(?P<colour>[0-9a-f]{{6}})\.css")
FILE_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'",
    # Survey pages send no referrer; a logo in an e-mail is loaded by the mail client.
    "Cross-Origin-Resource-Policy": "cross-origin",
}


def _not_found() -> Response:
    return Response(
        "Not found\n",
        404,
        {"Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff"},
        media_type="text/plain",
    )


@router.get(branding.BRAND_PREFIX + "/{account_id}/{name}")
async def logo(account_id: str, name: str, request: Request) -> Response:
    """An account's logo, by the hash of its content."""
    found = LOGO_NAME.fullmatch(name)
    if found is None or not account_id.isdigit() or len(account_id) > 18:
        return _not_found()
    async with read(request) as conn:
        served = await accounts.logo_file(conn, int(account_id), found["sha"], found["ext"])
    if served is None:
        return _not_found()
    content_type, data = served
    return Response(data, 200, FILE_HEADERS, media_type=content_type)


@router.get(branding.BRAND_PREFIX + "/{name}")
async def theme(name: str) -> Response:
    """The survey pages' stylesheet in a brand colour (named in the address)."""
    found = THEME_NAME.fullmatch(name)
    if found is None:
        return _not_found()
    css = branding.theme_css("#" + found["colour"])
    return Response(css, 200, FILE_HEADERS, media_type="text/css")
