"""HTTP endpoints for /feedback_requests."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from opensure.api import idempotency, pagination, timestamps
from opensure.api.deps import AccountId, LeanRoute, transaction
from opensure.api.errors import Errors, json_response
from opensure.api.openapi import body_schema, errors_for
from opensure.api.request import array_param, base_url, check_query, json_body
from opensure.api.validation import parse_path_id
from opensure.core.clock import utcnow
from opensure.db.fast import Direct, Session, needs_custom_plan
from opensure.feedback_requests import repository as repo
from opensure.feedback_requests import service
from opensure.feedback_requests.schemas import (
    FeedbackRequestCreate,
    FeedbackRequestRead,
    FeedbackRequestUpdate,
    to_json,
)

router = APIRouter(tags=["Feedback requests"], route_class=LeanRoute)


def _wake_dispatcher(request: Request, feedback_request: dict[str, Any]) -> None:
    """Embedded shape: a request due now is sent without waiting for the next poll."""
    dispatcher = getattr(request.app.state, "dispatcher", None)
    if dispatcher is not None and feedback_request["send_at"] <= timestamps.format(utcnow()):
        dispatcher.wakeup.set()


LIST_PARAMS = ("page", "per_page", "states", "state", "survey_ids")


@router.post(
    "/feedback_requests",
    status_code=201,
    responses={201: {"model": FeedbackRequestRead}, **errors_for(400, 403, 415, 422)},
    openapi_extra=body_schema(FeedbackRequestCreate),
)
async def create_feedback_request(request: Request, account_id: AccountId) -> Response:
    """Schedule a survey email: a pending feedback request sent at `send_at`."""
    body = await json_body(request)
    created: dict[str, Any] = {}

    async def work(session: Session) -> Response:
        created.update(await service.create(session=session, account_id=account_id, body=body))
        location = f"{base_url(request)}/feedback_requests/{created['id']}"
        return json_response(created, 201, {"Location": location})

    direct: Direct = request.app.state.direct
    response = await idempotency.create(
        request, account_id, body, work, direct.transaction, lambda: created.get("id")
    )
    if created:
        _wake_dispatcher(request, created)
    return response


@router.get(
    "/feedback_requests/{id}",
    responses={200: {"model": FeedbackRequestRead}, **errors_for(403, 404)},
)
async def get_feedback_request(id: str, request: Request, account_id: AccountId) -> Response:
    """Retrieve one feedback request by id."""
    check_query(request, ())
    direct: Direct = request.app.state.direct
    async with direct.read() as session:
        found = await service.get(
            session=session, account_id=account_id, request_id=parse_path_id(id)
        )
    return json_response(found)


@router.patch(
    "/feedback_requests/{id}",
    responses={200: {"model": FeedbackRequestRead}, **errors_for(400, 403, 404, 415, 422)},
    openapi_extra=body_schema(FeedbackRequestUpdate),
)
async def update_feedback_request(id: str, request: Request, account_id: AccountId) -> Response:
    """Update a pending feedback request; data items are changed by id, added without one."""
    body = await json_body(request)
    async with transaction(request) as conn:
        updated = await service.update(
            conn=conn, account_id=account_id, request_id=parse_path_id(id), body=body
        )
    _wake_dispatcher(request, updated)
    return json_response(updated)


@router.delete("/feedback_requests/{id}", status_code=204, responses=errors_for(404))
async def delete_feedback_request(id: str, request: Request, account_id: AccountId) -> Response:
    """Delete a pending request; for a sent one, erase the customer's personal data."""
    async with transaction(request) as conn:
        await service.delete(conn=conn, account_id=account_id, request_id=parse_path_id(id))
    return Response(status_code=204)


@router.get(
    "/feedback_requests",
    responses={200: {"model": list[FeedbackRequestRead]}, **errors_for(403, 422)},
    openapi_extra={
        "parameters": [
            *pagination.PARAMETERS,
            {
                "name": "states[]",
                "in": "query",
                "schema": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["pending", "sent", "not_sent"]},
                },
                "description": "Only these states (also `states=a,b` or repeated `states=`).",
            },
            {
                "name": "state",
                "in": "query",
                "schema": {"type": "string", "enum": ["pending", "sent", "not_sent"]},
            },
            {
                "name": "survey_ids[]",
                "in": "query",
                "schema": {"type": "array", "items": {"type": "integer"}},
                "description": "Only requests for these surveys.",
            },
        ]
    },
)
async def list_feedback_requests(request: Request, account_id: AccountId) -> Response:
    """List feedback requests, newest `send_at` first, filtered by state and survey."""
    check_query(request, LIST_PARAMS)
    errors = Errors("/feedback_requests/")
    page = pagination.parse_page(request, errors)
    states = (array_param(request, "states") or []) + (array_param(request, "state") or [])
    state_filter, survey_ids = service.parse_list_filters(
        states or None, array_param(request, "survey_ids"), errors
    )
    errors.raise_if_any()
    direct: Direct = request.app.state.direct
    async with direct.read_planned(needs_custom_plan(page.offset)) as session:
        found, total = await repo.list_page(
            session,
            account_id,
            states=state_filter,
            survey_ids=survey_ids,
            limit=page.per_page,
            offset=page.offset,
        )
    body = [to_json(row, items) for row, items in found]
    return json_response(body, 200, pagination.headers(request, base_url(request), page, total))
