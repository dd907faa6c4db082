"""HTTP endpoints for /feedback_responses (read only, as in the CustomerSure API)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from opensure.api import pagination
from opensure.api import validation as v
from opensure.api.deps import AccountId, LeanRoute
from opensure.api.errors import Errors, json_response
from opensure.api.openapi import errors_for
from opensure.api.request import array_param, base_url, check_query
from opensure.db.fast import Direct, needs_custom_plan
from opensure.feedback_responses import repository as repo
from opensure.feedback_responses import service
from opensure.feedback_responses.schemas import FeedbackResponseRead

router = APIRouter(tags=["Feedback responses"], route_class=LeanRoute)
LIST_PARAMS = ("page", "per_page", "updated_since", "email", "survey_ids")


@router.get(
    "/feedback_responses/{id}",
    responses={200: {"model": FeedbackResponseRead}, **errors_for(403, 404)},
)
async def get_feedback_response(id: str, request: Request, account_id: AccountId) -> Response:
    """Retrieve one feedback response by id."""
    check_query(request, ())
    direct: Direct = request.app.state.direct
    async with direct.read() as session:
        found = await service.get(
            session=session, account_id=account_id, response_id=v.parse_path_id(id)
        )
    return json_response(found)


@router.get(
    "/feedback_responses",
    responses={200: {"model": list[FeedbackResponseRead]}, **errors_for(403, 422)},
    openapi_extra={
        "parameters": [
            *pagination.PARAMETERS,
            {
                "name": "updated_since",
                "in": "query",
                "schema": {"type": "string", "format": "date-time"},
                "description": "Only responses created or updated at or after this time.",
            },
            {
                "name": "email",
                "in": "query",
                "schema": {"type": "string"},
                "description": "Only responses left by this address (case-insensitive).",
            },
            {
                "name": "survey_ids[]",
                "in": "query",
                "schema": {"type": "array", "items": {"type": "integer"}},
                "description": "Only responses to these surveys.",
            },
        ]
    },
)
async def list_feedback_responses(request: Request, account_id: AccountId) -> Response:
    """List feedback responses, newest first."""
    check_query(request, LIST_PARAMS)
    errors = Errors("/feedback_responses/")
    page = pagination.parse_page(request, errors)
    qp = request.query_params
    since = None
    if "updated_since" in qp:
        since = v.timestamp(errors, "updated_since", qp["updated_since"], required=True)
    email = qp.get("email") or None
    survey_ids = v.id_list(errors, "survey_ids", array_param(request, "survey_ids"))
    errors.raise_if_any()
    direct: Direct = request.app.state.direct
    async with direct.read_planned(
        needs_custom_plan(page.offset, window=since is not None)
    ) as session:
        rows, total = await repo.list_page(
            session,
            account_id,
            updated_since=since,
            email=email,
            survey_ids=survey_ids,
            limit=page.per_page,
            offset=page.offset,
        )
        body = await service.render_many(session, rows)
    return json_response(body, 200, pagination.headers(request, base_url(request), page, total))
