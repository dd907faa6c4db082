"""HTTP endpoints for /sites."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from opensure.api import idempotency, pagination
from opensure.api.deps import AccountId, LeanRoute, read, transaction
from opensure.api.errors import Errors, json_response
from opensure.api.openapi import body_schema, errors_for
from opensure.api.request import base_url, check_query, json_body
from opensure.db.fast import SaSession
from opensure.sites import repository as repo
from opensure.sites import service
from opensure.sites.schemas import SiteCreate, SiteMoved, SiteRead, SiteUpdate, to_json

router = APIRouter(tags=["Sites"], route_class=LeanRoute)
# A renamed site's old code redirects: 301 for GET, 307 (repeat the request there) otherwise.
MOVED: dict[int | str, dict[str, Any]] = {
    301: {"model": SiteMoved, "description": "Renamed: Location has the site's current URL"}
}
MOVED_TEMPORARILY: dict[int | str, dict[str, Any]] = {
    307: {
        "model": SiteMoved,
        "description": "Renamed: repeat the request at Location, the site's current URL",
    }
}


@router.post(
    "/sites",
    status_code=201,
    responses={201: {"model": SiteRead}, **errors_for(400, 403, 415, 422)},
    openapi_extra=body_schema(SiteCreate),
)
async def create_site(request: Request, account_id: AccountId) -> Response:
    """Create a site."""
    body = await json_body(request)

    async def work(session: SaSession) -> Response:
        created = await service.create(conn=session.conn, account_id=account_id, body=body)
        location = f"{base_url(request)}/sites/{created['site_code']}"
        return json_response(created, 201, {"Location": location})

    return await idempotency.create(
        request, account_id, body, work, idempotency.orm_transaction(request)
    )


@router.get(
    "/sites/{site_code}", responses={200: {"model": SiteRead}, **MOVED, **errors_for(403, 404)}
)
async def get_site(site_code: str, request: Request, account_id: AccountId) -> Response:
    """Retrieve a site by its site_code (a renamed site's old code answers 301)."""
    check_query(request, ())
    async with read(request) as conn:
        found = await service.get(
            conn=conn, account_id=account_id, code=site_code, base=base_url(request)
        )
    return json_response(found)


@router.patch(
    "/sites/{site_code}",
    responses={
        200: {"model": SiteRead},
        **MOVED_TEMPORARILY,
        **errors_for(400, 403, 404, 415, 422),
    },
    openapi_extra=body_schema(SiteUpdate),
)
async def update_site(site_code: str, request: Request, account_id: AccountId) -> Response:
    """Update a site; a new site_code renames it and the old code then redirects."""
    body = await json_body(request)
    async with transaction(request) as conn:
        updated = await service.update(
            conn=conn, account_id=account_id, code=site_code, body=body, base=base_url(request)
        )
    return json_response(updated)


@router.put(
    "/sites/{site_code}",
    responses={
        200: {"model": SiteRead, "description": "Replaced"},
        201: {"model": SiteRead, "description": "Created"},
        **errors_for(400, 403, 415, 422),
    },
    openapi_extra=body_schema(SiteCreate),
)
async def replace_site(site_code: str, request: Request, account_id: AccountId) -> Response:
    """Create the site at this code (201) or replace all of its fields (200)."""
    body = await json_body(request)
    async with transaction(request) as conn:
        site, created = await service.replace(
            conn=conn, account_id=account_id, code=site_code, body=body, base=base_url(request)
        )
    return json_response(site, 201 if created else 200)


@router.delete(
    "/sites/{site_code}", status_code=204, responses={**MOVED_TEMPORARILY, **errors_for(404)}
)
async def delete_site(site_code: str, request: Request, account_id: AccountId) -> Response:
    """Delete a site. Requests and responses linked to it keep their other data."""
    async with transaction(request) as conn:
        await service.delete(
            conn=conn, account_id=account_id, code=site_code, base=base_url(request)
        )
    return Response(status_code=204)


@router.get(
    "/sites",
    responses={200: {"model": list[SiteRead]}, **errors_for(403, 422)},
    openapi_extra={"parameters": pagination.PARAMETERS},
)
async def list_sites(request: Request, account_id: AccountId) -> Response:
    """List sites sorted by name (case-insensitive), then site_code."""
    check_query(request, ("page", "per_page"))
    errors = Errors("/sites/")
    page = pagination.parse_page(request, errors)
    errors.raise_if_any()
    async with read(request) as conn:
        rows, total = await repo.list_page(
            conn, account_id, limit=page.per_page, offset=page.offset
        )
    return json_response(
        [to_json(r) for r in rows], 200, pagination.headers(request, base_url(request), page, total)
    )
