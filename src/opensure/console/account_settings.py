"""Settings (admins only): the account's company name, minimum interval between surveys,
link-back template, sender name and reply-to address of its e-mails, brand colour and logo.

Every field is checked by ``accounts.service`` (the rules ``opensure accounts update`` uses);
a refused form is shown again with each problem beside its field (422) and nothing saved. The
logo is a multipart upload, checked by its bytes (``core.branding``) and stored in the
database; the survey pages and e-mails load it from ``/brand/…`` (``pages.brand``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from opensure.accounts import service as accounts
from opensure.api.deps import read, transaction
from opensure.api.errors import ApiError
from opensure.console import web
from opensure.console.session import (
    Viewer,
    checked_form,
    checked_upload,
    require_admin,
    signed_in,
)
from opensure.console.viewer import record
from opensure.core import branding
from opensure.core.formdata import Upload

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
SignedIn = Annotated[Viewer, Depends(signed_in)]

PAGE = f"{web.PREFIX}/settings/account"
# Room for the form's other fields and the multipart framing around the largest logo; a
# larger body is refused before it is read (and said on the page like any too-large logo).
UPLOAD_LIMIT = branding.LOGO_MAX_BYTES + 64 * 1024
LABELS = {
    "display_name": "Company name",
    "min_interval_days": "Minimum interval between surveys",
    "reminder_after_days": "Reminder after (days)",
    "link_back_template": "Link-back URL template",
    "sender_name": "Sender name",
    "reply_to": "Reply-to address",
    "brand_colour": "Brand colour",
    "logo": "Logo",
}
NOTICES = {
    "saved": "The settings are saved.",
    "logo": "The logo is uploaded: survey pages and e-mails show it from now on.",
    "logo_removed": "The logo is removed.",
}


def _typed(form: Any) -> dict[str, str]:
    values = {}
    for field in accounts.SETTINGS:
        value = form.get(field)
        values[field] = value if isinstance(value, str) else ""
    return values


def _shown(current: dict[str, Any]) -> dict[str, str]:
    return {f: "" if current[f] is None else str(current[f]) for f in accounts.SETTINGS}


async def _page(
    request: Request,
    viewer: Viewer,
    *,
    typed: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with read(request) as conn:
        current = await accounts.account_settings(conn, viewer.account_id)
    problems = problems or {}
    colour = current["brand_colour"]
    context = {
        "title": "Account settings",
        "nav": "settings",
        "current": current,
        "form": typed or _shown(current),
        "problems": problems,
        "labels": LABELS,
        "colour_ink": branding.text_on(colour) if colour else None,
        "logo_max_kib": branding.LOGO_MAX_BYTES // 1024,
        "logo_max_pixels": branding.LOGO_MAX_PIXELS,
        "notice": None if problems else NOTICES.get(request.query_params.get("done") or ""),
    }
    return web.page(request, viewer, "settings_account.html", context, status_code)


async def _record(
    conn: AsyncConnection,
    viewer: Viewer,
    action: str,
    *,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """The audit log's event for a change of the account's settings or logo."""
    subject = f"Account {viewer.account_name}"
    await record(
        conn, viewer, action, subject, subject_id=viewer.account_id, before=before, after=after
    )


@router.get("/settings/account")
async def account_page(request: Request, viewer: SignedIn) -> Response:
    """The account's settings and branding, with the admin's forms."""
    require_admin(viewer)
    return await _page(request, viewer)


@router.post("/settings/account")
async def save_settings(request: Request, viewer: SignedIn) -> Response:
    """Save the settings; every problem is shown beside its field and nothing is saved."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    typed = _typed(form)
    try:
        async with transaction(request) as conn:
            before, after = await accounts.update_settings(conn, viewer.account_id, typed)
            await _record(conn, viewer, "account.updated", before=before, after=after)
    except accounts.SettingsRefused as exc:
        return await _page(request, viewer, typed=typed, problems=exc.problems, status_code=422)
    return web.redirect(f"{PAGE}?done=saved")


@router.post("/settings/account/logo")
async def upload_logo(request: Request, viewer: SignedIn) -> Response:
    """Upload a logo (PNG, JPEG, GIF or WebP; checked by its bytes), replacing the old one."""
    try:
        form = await checked_upload(request, viewer, UPLOAD_LIMIT)
    except ApiError as exc:
        if exc.status_code != 413:
            raise
        require_admin(viewer)
        return await _logo_refused(request, viewer, branding.LOGO_TOO_BIG)
    require_admin(viewer)
    upload = form.get("logo")
    data = upload.data if isinstance(upload, Upload) else b""
    try:
        async with transaction(request) as conn:
            old = (await accounts.account_settings(conn, viewer.account_id))["logo"]
            new = await accounts.set_logo(conn, viewer.account_id, data)
            await _record(
                conn,
                viewer,
                "account.logo_changed",
                before=None if old is None else {"sha256": old["sha256"]},
                after={"sha256": new["sha256"]},  # the same file again records nothing
            )
    except branding.LogoRefused as exc:
        return await _logo_refused(request, viewer, str(exc))
    return web.redirect(f"{PAGE}?done=logo")


async def _logo_refused(request: Request, viewer: Viewer, problem: str) -> Response:
    return await _page(request, viewer, problems={"logo": problem}, status_code=422)


@router.post("/settings/account/logo/remove")
async def remove_logo(request: Request, viewer: SignedIn) -> Response:
    """Remove the logo: survey pages and e-mails show the company name alone."""
    await checked_form(request, viewer)
    require_admin(viewer)
    async with transaction(request) as conn:
        removed = await accounts.remove_logo(conn, viewer.account_id)
        if removed is not None:
            before = {"sha256": removed}
            await _record(conn, viewer, "account.logo_removed", before=before, after=None)
    return web.redirect(f"{PAGE}?done=logo_removed")
