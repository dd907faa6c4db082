"""Settings for the programme: sites, with the API's rules.

``sites.service`` is the one service behind ``/sites``, the CLI and these pages: a site is
added as POST /sites adds it, changed (or renamed: the old code then redirects) as
PATCH /sites/{code}, deleted as DELETE /sites/{code}; its problems are the API's, in words.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from opensure.api.deps import read, transaction
from opensure.console import web
from opensure.console.programme import form_state, form_values
from opensure.console.session import Viewer, checked_form, require_admin, signed_in
from opensure.console.viewer import record
from opensure.core.errors import AdminError
from opensure.sites import service as sites

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
SignedIn = Annotated[Viewer, Depends(signed_in)]

SITES = f"{web.PREFIX}/settings/sites"
SITE_FIELDS = sites.FIELDS
NOTICES = {
    "site-added": "The site is added.",
    "site-updated": "The site is changed.",
    "site-deleted": "The site is deleted; its feedback stays, without the link.",
}


def _site_subject(site: dict[str, Any]) -> str:
    return f"Site {site['site_code']} ({site['name']})"


def _site_body(typed: dict[str, str]) -> dict[str, Any]:
    """The form as the API's body: an empty field is null (no city, no region…)."""
    return {k: (v or None) for k, v in typed.items()}


async def _sites_page(
    request: Request,
    viewer: Viewer,
    *,
    problem: str | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    async with read(request) as conn:
        rows = await sites.list_with_aliases(conn, viewer.account_id)
    context = {
        "title": "Sites",
        "nav": "settings",
        "rows": rows,
        **form_state(request, SITE_FIELDS, NOTICES, problem=problem, typed=typed),
    }
    return web.page(request, viewer, "settings_sites.html", context, status_code)


@router.get("/settings/sites")
async def sites_page(request: Request, viewer: SignedIn) -> Response:
    """The account's sites by name, with the former codes that redirect to each."""
    return await _sites_page(request, viewer)


@router.post("/settings/sites")
async def add_site(request: Request, viewer: SignedIn) -> Response:
    """Add a site with POST /sites's rules."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    typed = form_values(form, SITE_FIELDS)
    try:
        async with transaction(request) as conn:
            made = await sites.admin_create(conn, viewer.account_id, _site_body(typed))
            await record(
                conn,
                viewer,
                "site.created",
                _site_subject(made),
                subject_id=made["site_code"],
                after=made,
            )
    except AdminError as exc:
        return await _sites_page(request, viewer, problem=str(exc), typed=typed, status_code=422)
    return web.redirect(f"{SITES}?done=site-added")


async def _site(request: Request, viewer: Viewer, code: str) -> dict[str, Any]:
    try:
        async with read(request) as conn:
            return await sites.admin_get(conn, viewer.account_id, code)
    except AdminError:
        raise web.NotFound from None


async def _site_page(
    request: Request,
    viewer: Viewer,
    site: dict[str, Any],
    *,
    problem: str | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "title": f"Site {site['site_code']}",
        "subnav": "sites",
        "nav": "settings",
        "site": site,
        **form_state(
            request,
            SITE_FIELDS,
            NOTICES,
            problem=problem,
            typed=typed,
            shown={k: site[k] or "" for k in SITE_FIELDS},
        ),
    }
    return web.page(request, viewer, "settings_site_edit.html", context, status_code)


@router.get("/settings/sites/{code}")
async def site_page(request: Request, code: str, viewer: SignedIn) -> Response:
    """One site, with an admin's forms to change (or rename) or delete it."""
    return await _site_page(request, viewer, await _site(request, viewer, code))


@router.post("/settings/sites/{code}")
async def update_site(request: Request, code: str, viewer: SignedIn) -> Response:
    """Change a site as PATCH /sites/{code} does: a new code renames it, the old one redirects."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    site = await _site(request, viewer, code)
    typed = form_values(form, SITE_FIELDS)
    try:
        async with transaction(request) as conn:
            changed = await sites.admin_update(
                conn, viewer.account_id, site["site_code"], _site_body(typed)
            )
            await record(
                conn,
                viewer,
                "site.updated",
                _site_subject(changed),
                subject_id=changed["site_code"],
                before=site,
                after=changed,
            )
    except AdminError as exc:
        return await _site_page(
            request, viewer, site, problem=str(exc), typed=typed, status_code=422
        )
    return web.redirect(f"{SITES}?done=site-updated")


@router.post("/settings/sites/{code}/delete")
async def delete_site(request: Request, code: str, viewer: SignedIn) -> Response:
    """Delete a site, as DELETE /sites/{code}: its feedback stays, without the link."""
    await checked_form(request, viewer)
    require_admin(viewer)
    site = await _site(request, viewer, code)
    async with transaction(request) as conn:
        await sites.admin_delete(conn, viewer.account_id, site["site_code"])
        await record(
            conn,
            viewer,
            "site.deleted",
            _site_subject(site),
            subject_id=site["site_code"],
            before=site,
        )
    return web.redirect(f"{SITES}?done=site-deleted")
