"""HTTP endpoints for the metrics: /response_rate and /nps."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from opensure.api.deps import AccountId, LeanRoute, read_planned
from opensure.api.errors import json_response
from opensure.api.openapi import errors_for
from opensure.api.request import array_param, check_query
from opensure.metrics import service

router = APIRouter(tags=["Metrics"], route_class=LeanRoute)


class ResponseRate(BaseModel):
    response_rate_percent: int
    sent_count: int
    delivered_count: int
    reply_count: int


class NetPromoterScore(BaseModel):
    net_promoter_score: int | None
    promoter_count: int
    passive_count: int
    detractor_count: int


def _time_params(default_from: str, default_to: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "from_time",
            "in": "query",
            "schema": {"type": "string", "format": "date-time"},
            "description": f"Start of the window, inclusive (default: {default_from}).",
        },
        {
            "name": "to_time",
            "in": "query",
            "schema": {"type": "string", "format": "date-time"},
            "description": f"End of the window, inclusive (default: {default_to}).",
        },
    ]


def _ids_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": f"{name}[]",
        "in": "query",
        "schema": {"type": "array", "items": {"type": "integer"}},
        "description": description,
    }


@router.get(
    "/response_rate",
    responses={200: {"model": ResponseRate}, **errors_for(403, 422)},
    openapi_extra={
        "parameters": [
            *_time_params("midnight UTC 32 days ago", "midnight UTC 2 days ago"),
            _ids_param("survey_ids", "Only requests for these surveys."),
        ]
    },
)
async def response_rate(request: Request, account_id: AccountId) -> Response:
    """Response rate of requests sent in the window: replies / delivered x 100."""
    check_query(request, ("from_time", "to_time", "survey_ids"))
    qp = request.query_params
    async with read_planned(request) as conn:
        body = await service.response_rate(
            conn=conn,
            account_id=account_id,
            raw_from=qp.get("from_time"),
            raw_to=qp.get("to_time"),
            raw_survey_ids=array_param(request, "survey_ids"),
        )
    return json_response(body)


@router.get(
    "/nps",
    responses={200: {"model": NetPromoterScore}, **errors_for(403, 422)},
    openapi_extra={
        "parameters": [
            *_time_params("midnight UTC 30 days ago", "now"),
            _ids_param("question_ids", "Only these NPS questions (default: all of them)."),
        ]
    },
)
async def nps(request: Request, account_id: AccountId) -> Response:
    """Net Promoter Score of NPS answers submitted in the window."""
    check_query(request, ("from_time", "to_time", "question_ids"))
    qp = request.query_params
    async with read_planned(request) as conn:
        body = await service.nps(
            conn=conn,
            account_id=account_id,
            raw_from=qp.get("from_time"),
            raw_to=qp.get("to_time"),
            raw_question_ids=array_param(request, "question_ids"),
        )
    return json_response(body)
