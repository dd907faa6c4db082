"""Webhook endpoints in the console (admins only; SPEC §9): the account's endpoints with their
state, adding one (the rules and the address check of ``webhooks.service``, as the CLI; never
onto the private network), removing one, rotating its secret, and an endpoint's delivery log
with "Send a test event" and "Redeliver".

A new secret is shown once, in the response to the POST that made it, never in a URL. Every
change is recorded in the audit log without the secret.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from opensure.api.deps import read, transaction
from opensure.console import web
from opensure.console.session import Viewer, checked_form, require_admin, signed_in
from opensure.console.viewer import record
from opensure.core import netcheck
from opensure.core import webhooks as rules
from opensure.core.errors import AdminError
from opensure.webhooks import service as webhooks

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
SignedIn = Annotated[Viewer, Depends(signed_in)]

LIST = f"{web.PREFIX}/settings/webhooks"
# Replaceable in tests (a stub resolver: no DNS); the dispatcher checks again before sending.
resolve: netcheck.Resolver = netcheck.system_resolve
NOTICES = {
    "removed": "The endpoint is removed: nothing more is sent to it.",
    "test": "A test event is queued: the dispatcher delivers it within seconds.",
    "redelivered": "The event is due again: the dispatcher sends it within seconds.",
}


@asynccontextmanager
async def _on_endpoint(request: Request) -> AsyncIterator[AsyncConnection]:
    """A transaction in which the service's "no such endpoint (in this account)" is a 404."""
    try:
        async with transaction(request) as conn:
            yield conn
    except AdminError:
        raise web.NotFound from None


def _notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("done") or "")


async def _record(
    conn: AsyncConnection,
    viewer: Viewer,
    action: str,
    endpoint: dict[str, Any],
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    subject = f"Webhook {endpoint['url']}"
    await record(
        conn, viewer, action, subject, subject_id=endpoint["id"], before=before, after=after
    )


def _public(endpoint: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of an endpoint (never a secret)."""
    return {"url": endpoint["url"], "events": endpoint["events"]}


async def _list_page(
    request: Request,
    viewer: Viewer,
    *,
    created: dict[str, Any] | None = None,
    rotated: dict[str, Any] | None = None,
    problem: str | None = None,
    typed: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    async with read(request) as conn:
        rows = await webhooks.list_endpoints(conn, viewer.account_id)
    context = {
        "title": "Webhooks",
        "nav": "settings",
        "rows": rows,
        "event_types": rules.EVENT_TYPES,
        "created": created,
        "rotated": rotated,
        "problem": problem,
        "typed": typed or {"url": "", "events": []},
        "notice": None if created or rotated or problem else _notice(request),
    }
    return web.page(request, viewer, "settings_webhooks.html", context, status)


@router.get("/settings/webhooks")
async def webhooks_page(request: Request, viewer: SignedIn) -> Response:
    """The account's endpoints, whether each is failing and why, and a form to add one."""
    require_admin(viewer)
    return await _list_page(request, viewer)


@router.post("/settings/webhooks")
async def add_webhook(request: Request, viewer: SignedIn) -> Response:
    """A new endpoint; its secret is shown once, on this response."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    url = web.form_text(form, "url")
    events = [e for e in form.getlist("events") if isinstance(e, str)]
    try:
        async with transaction(request) as conn:
            made = await webhooks.create_endpoint(
                conn, viewer.account_id, url=url, events=",".join(events), resolve=resolve
            )
            await _record(conn, viewer, "webhook.created", made, after=_public(made))
    except AdminError as exc:
        typed = {"url": url, "events": events}
        return await _list_page(request, viewer, problem=str(exc), typed=typed, status=422)
    return await _list_page(request, viewer, created=made)


async def _change(request: Request, viewer: Viewer, endpoint_id: str) -> tuple[Any, int]:
    form = await checked_form(request, viewer)
    require_admin(viewer)
    return form, web.path_id(endpoint_id)


@router.post("/settings/webhooks/{endpoint_id}/remove")
async def remove_webhook(request: Request, endpoint_id: str, viewer: SignedIn) -> Response:
    """Remove an endpoint (another account's: 404); its waiting events are dropped."""
    _, found = await _change(request, viewer, endpoint_id)
    async with _on_endpoint(request) as conn:
        removed = await webhooks.remove_endpoint(conn, viewer.account_id, found)
        await _record(conn, viewer, "webhook.removed", removed, before=_public(removed))
    return web.redirect(f"{LIST}?done=removed")


@router.post("/settings/webhooks/{endpoint_id}/rotate")
async def rotate_webhook_secret(request: Request, endpoint_id: str, viewer: SignedIn) -> Response:
    """A new secret, shown once on this response; the old one signs too for 24 hours."""
    _, found = await _change(request, viewer, endpoint_id)
    async with _on_endpoint(request) as conn:
        rotated = await webhooks.rotate_secret(conn, viewer.account_id, found)
        expires = {"previous_secret_expires_at": rotated["previous_secret_expires_at"]}
        await _record(conn, viewer, "webhook.secret_rotated", rotated, after=expires)
    return await _list_page(request, viewer, rotated=rotated)


@router.get("/settings/webhooks/{endpoint_id}")
async def webhook_page(request: Request, endpoint_id: str, viewer: SignedIn) -> Response:
    """An endpoint's latest delivery attempts, newest first."""
    require_admin(viewer)
    found = web.path_id(endpoint_id)
    try:
        async with read(request) as conn:
            endpoint = await webhooks.show_endpoint(conn, viewer.account_id, found)
    except AdminError:
        raise web.NotFound from None
    context = {
        "title": "Webhooks",
        "nav": "settings",
        "endpoint": endpoint,
        "notice": _notice(request),
    }
    return web.page(request, viewer, "settings_webhook.html", context)


@router.post("/settings/webhooks/{endpoint_id}/test")
async def send_test_event(request: Request, endpoint_id: str, viewer: SignedIn) -> Response:
    """Queue a ``webhook.test`` event for this endpoint alone."""
    _, found = await _change(request, viewer, endpoint_id)
    async with _on_endpoint(request) as conn:
        event_id = await webhooks.send_test(conn, viewer.account_id, found)
        endpoint = await webhooks.show_endpoint(conn, viewer.account_id, found)
        sent = {"event_id": event_id, "type": webhooks.TEST_EVENT}
        await _record(conn, viewer, "webhook.test_sent", endpoint, after=sent)
    return web.redirect(f"{LIST}/{found}?done=test")


@router.post("/settings/webhooks/{endpoint_id}/redeliver")
async def redeliver_event(request: Request, endpoint_id: str, viewer: SignedIn) -> Response:
    """Make one of the endpoint's events due now (the same webhook-id)."""
    form, found = await _change(request, viewer, endpoint_id)
    async with _on_endpoint(request) as conn:
        again = await webhooks.redeliver(
            conn, viewer.account_id, found, web.form_text(form, "event")
        )
        endpoint = await webhooks.show_endpoint(conn, viewer.account_id, found)
        after = {"event_id": again["id"], "type": again["type"]}
        await _record(conn, viewer, "webhook.redelivered", endpoint, after=after)
    return web.redirect(f"{LIST}/{found}?done=redelivered")
