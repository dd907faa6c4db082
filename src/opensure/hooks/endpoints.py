"""``POST /hooks/bounces/{provider}``: public, outside the CustomerSure API and the console;
each provider proves itself as ``providers`` says. Answers 200 to any authenticated
notification, even one about no request of ours (the provider must not retry it), 403 to one
that does not authenticate, 404 for a provider this installation has not set up."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from opensure.api.deps import transaction
from opensure.core.clock import utcnow
from opensure.hooks import service
from opensure.hooks.providers import Malformed, NotConfigured, Refused

router = APIRouter(prefix="/hooks/bounces", include_in_schema=False)

MAX_BODY = 1024 * 1024


def _clients(request: Request) -> service.Clients:
    state = request.app.state
    if state.bounce_hooks is None:
        state.bounce_hooks = service.Clients()
    clients: service.Clients = state.bounce_hooks
    return clients


def _answer(status: int, message: str) -> Response:
    return JSONResponse({"message": message}, status_code=status)


@router.post("/{provider}")
async def receive(provider: str, request: Request) -> Response:
    """A provider's delivery notification (bounces, complaints)."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        return _answer(413, "The notification is too large.")
    body = await request.body()
    if len(body) > MAX_BODY:
        return _answer(413, "The notification is too large.")
    try:
        reports = await service.reports_for(
            provider,
            request.app.state.settings,
            body,
            request.headers,
            request.query_params,
            _clients(request),
        )
    except NotConfigured:
        return _answer(404, "This provider's notifications are not set up here.")
    except Refused as exc:
        return _answer(403, f"Refused: {exc}.")
    except Malformed as exc:
        return _answer(400, f"Not a notification: {exc}.")
    async with transaction(request) as conn:
        done = await service.handle(conn, reports, utcnow())
    return JSONResponse(
        {"recorded": done.recorded, "unsubscribed": done.unsubscribed, "ignored": done.ignored}
    )
