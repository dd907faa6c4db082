"""The feedback inbox (the console's home), one response's page and the responses' CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response, StreamingResponse

from opensure.api import timestamps
from opensure.api.deps import read_planned
from opensure.api.validation import parse_path_id
from opensure.console import web
from opensure.console.session import Viewer, signed_in
from opensure.db.fast import SaSession, Session
from opensure.feedback_responses import service
from opensure.feedback_responses.service import BadFilter, Choices, InboxPage

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
SignedIn = Annotated[Viewer, Depends(signed_in)]

CSV_TYPE = "text/csv; charset=utf-8"


def _query(request: Request) -> dict[str, list[str]]:
    qp = request.query_params
    return {key: qp.getlist(key) for key in qp}


def _filter_items(query: dict[str, list[str]]) -> list[tuple[str, str]]:
    """The filter parameters as they came, for the next page's and the export's links."""
    names = {*service.FILTER_PARAMS, "survey_ids[]"}
    return [(k, v) for k, values in query.items() if k in names for v in values if v.strip()]


def _query_string(items: list[tuple[str, str]]) -> str:
    return "?" + urlencode(items) if items else ""


@asynccontextmanager
async def _session(request: Request) -> AsyncIterator[Session]:
    # Planned for the values on PostgreSQL: a search or a time window changes the best plan.
    async with read_planned(request) as conn:
        yield SaSession(conn)


def _form(query: dict[str, list[str]]) -> dict[str, Any]:
    """The filter form's fields as they were given (shown again as typed, even when wrong)."""

    def one(name: str) -> str:
        values = [v for v in query.get(name, []) if v.strip()]
        return values[-1] if values else ""

    surveys = {
        part.strip()
        for raw in query.get("survey_ids[]", []) + query.get("survey_ids", [])
        for part in raw.split(",")
    }
    return {name: one(name) for name in service.FILTER_PARAMS} | {"survey_ids": surveys}


async def _inbox_page(request: Request, viewer: Viewer) -> Response:
    query = _query(request)
    problems: dict[str, str] = {}
    page = InboxPage([], None)
    try:
        filters = service.parse_filter(query)
        after = service.parse_cursor(request.query_params.get("after"))
    except BadFilter as bad:
        problems = bad.problems
    async with _session(request) as session:
        choices: Choices = await service.filter_choices(session, viewer.account_id)
        if not problems:
            page = await service.inbox(session, viewer.account_id, filters, after)
    items = _filter_items(query)
    context = {
        "title": "Inbox",
        "nav": "inbox",
        "page": page,
        "choices": choices,
        "survey_names": {c.id: c.label for c in choices.surveys},
        "form": _form(query),
        "problems": problems,
        "filtered": bool(items),
        "first_page": "after" not in query,
        "next_url": (
            "/app/responses?" + urlencode([*items, ("after", page.after)]) if page.after else None
        ),
        "first_url": "/app/responses" + _query_string(items),
        "export_url": "/app/responses.csv" + _query_string(items),
        "bands": service.BANDS,
    }
    return web.page(request, viewer, "inbox.html", context, 422 if problems else 200)


@router.get("/")
async def home(request: Request, viewer: SignedIn) -> Response:
    """The console's home: the inbox."""
    return await _inbox_page(request, viewer)


@router.get("/responses")
async def inbox(request: Request, viewer: SignedIn) -> Response:
    """The account's responses, newest first, filtered."""
    return await _inbox_page(request, viewer)


@router.get("/responses.csv")
async def responses_csv(request: Request, viewer: SignedIn) -> Response:
    """The responses the inbox's filters select, as CSV, streamed in batches."""
    try:
        filters = service.parse_filter(_query(request))
    except BadFilter as bad:
        message = " ".join(f"{name}: {text}" for name, text in bad.problems.items())
        return web.message_page(request, viewer, 422, "These filters cannot be used", message)

    async def lines() -> AsyncIterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        batches = service.export(lambda: _session(request), viewer.account_id, filters)
        async for rows in batches:
            writer.writerows(rows)
            yield out.getvalue()
            out.seek(0)
            out.truncate()

    headers = {
        **web.SECURITY_HEADERS,
        "Content-Disposition": "attachment; filename=responses.csv",
    }
    return StreamingResponse(lines(), media_type=CSV_TYPE, headers=headers)


def _when(value: Any) -> str | None:
    return timestamps.format(value)


def _items(pairs: Iterable[Any], kind: str) -> list[tuple[str, str]]:
    return [(i.key, i.value) for i in pairs if i.kind == kind]


@router.get("/responses/{response_id}")
async def response_page(request: Request, response_id: str, viewer: SignedIn) -> Response:
    """One response: every answer, the customer, the request it came from, the link back."""
    number = parse_path_id(response_id)
    if number is None:
        raise web.NotFound()
    async with _session(request) as session:
        found = await service.detail(session, viewer.account_id, number)
    if found is None:
        raise web.NotFound()
    context = {
        "title": f"Response {found.response.id}",
        "nav": "inbox",
        "r": found.response,
        "d": found,
        "submitted_at": _when(found.response.submitted_at),
        "updated_at": _when(found.response.updated_at),
        "send_at": _when(found.request.send_at) if found.request else None,
        "sent_at": _when(found.request.sent_at) if found.request else None,
        "data": _items(found.items, "data"),
        "query_params": _items(found.items, "query_param"),
    }
    return web.page(request, viewer, "response.html", context)
