"""The queue: the account's feedback requests by state, searched and filtered, newest send_at
first; an admin cancels a pending one (the API's DELETE, refusing any other); the CSV export.

The filters are the query string, as typed (so a page, its next page and its export share
them): ``state`` (pending, sent, not_sent or all), ``q`` (an e-mail address or a reference),
``survey_ids`` (``survey_ids[]`` or repeated), ``from_time`` and ``to_time`` (send_at, both
inclusive), and ``after`` (the keyset cursor of the next page).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response, StreamingResponse

from opensure.api import errors as api_errors
from opensure.api import timestamps
from opensure.api.deps import read, transaction
from opensure.api.request import array_param
from opensure.api.validation import parse_path_id
from opensure.audit import service as audit
from opensure.console import web
from opensure.console.session import Viewer, checked_form, require_admin, signed_in
from opensure.core.clock import utcnow
from opensure.db.fast import SaSession
from opensure.feedback_requests import service
from opensure.feedback_requests.repository import QueueFilters, RequestRow
from opensure.models.feedback import STATES
from opensure.surveys import repository as surveys

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
SignedIn = Annotated[Viewer, Depends(signed_in)]

QUEUE = f"{web.PREFIX}/queue"
EXPORT = f"{web.PREFIX}/feedback_requests.csv"
ALL = "all"
TABS = (("all", "All"), ("pending", "Pending"), ("sent", "Sent"), ("not_sent", "Not sent"))
STATE_NAMES = dict(TABS)

# What each filter is called on the page, for the messages about what was typed.
LABELS = {
    "states": "State",
    "survey_ids": "Survey",
    "q": "Search",
    "from_time": "Send date from",
    "to_time": "Send date to",
    "after": "Page",
}


@dataclass
class Typed:
    """The filters as typed (shown again in the form, carried into links)."""

    state: str = ALL
    q: str = ""
    survey_ids: list[str] = field(default_factory=list)
    from_time: str = ""
    to_time: str = ""

    @classmethod
    def of(cls, request: Request) -> Typed:
        qp = request.query_params
        return cls(
            state=(qp.get("state") or ALL).strip(),
            q=qp.get("q") or "",
            survey_ids=array_param(request, "survey_ids") or [],
            from_time=(qp.get("from_time") or "").strip(),
            to_time=(qp.get("to_time") or "").strip(),
        )

    def pairs(self, **changes: str) -> list[tuple[str, str]]:
        """The query string's pairs: only what is set, ``state`` left out when it is all."""
        values = {
            "state": self.state if self.state != ALL else "",
            "q": self.q,
            "from_time": self.from_time,
            "to_time": self.to_time,
            **changes,
        }
        pairs = [(k, v) for k, v in values.items() if k != "survey_ids" and v]
        pairs += [("survey_ids[]", s) for s in self.survey_ids]
        return pairs

    def url(self, path: str = QUEUE, **changes: str) -> str:
        query = urlencode(self.pairs(**changes))
        return f"{path}?{query}" if query else path

    def parse(self, errors: api_errors.Errors) -> QueueFilters:
        states = None if self.state == ALL else [self.state]
        return service.parse_queue_filters(
            errors,
            states=states,
            survey_ids=self.survey_ids or None,
            search=self.q,
            from_time=self.from_time or None,
            to_time=self.to_time or None,
        )


def explain(item: dict[str, Any]) -> str:
    """One validation error as a sentence a person can act on."""
    label = LABELS.get(item["field"], item["field"])
    extra = item.get("extra_info") or {}
    if item["field"] == "states":
        allowed = ", ".join(STATE_NAMES[s] for s in ("all", *STATES))
        return f"{label}: choose one of {allowed}."
    if item["field"] == "after":
        return (
            "Page: this link to a next page is not one the queue made. Start from the first page."
        )
    if item["error"] == "invalid_date" and "maximum" in extra:
        return f"{label}: must not be after the end date."
    if item["error"] == "invalid_date":
        return f"{label}: not a date. Use YYYY-MM-DD, or a time such as 2026-01-31T17:00:00Z."
    if item["error"] == "wrong_length":
        return f"{label}: at most {extra.get('maximum')} characters."
    if item["field"] == "survey_ids":
        return f"{label}: not a survey of this account."
    message = extra.get("message")
    return f"{label}: {message}." if message else f"{label}: not a value the queue understands."


def _when(value: Any) -> dict[str, str] | None:
    """A timestamp as the API writes it (``<time datetime>``), and its date and its time to
    the minute as shown (on two lines: the table stays narrow enough for a laptop)."""
    iso = timestamps.format(value)
    return {"iso": iso, "date": iso[:10], "time": f"{iso[11:16]} UTC"} if iso else None


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _row(row: RequestRow, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "email": row.email,
        "erased": row.deletion_requested_at is not None,
        "survey": names.get(row.survey_id, f"Survey {row.survey_id}"),
        "reference": row.reference,
        "send_at": _when(row.send_at),
        "sent_at": _when(row.sent_at),
        "state": row.state,
        "state_name": STATE_NAMES.get(row.state, row.state),
        "not_sent_reason": row.not_sent_reason,
        "delivery_failure": row.delivery_failure,
    }


async def _page(
    request: Request,
    viewer: Viewer,
    typed: Typed,
    problems: list[str],
    *,
    notice: str | None = None,
) -> Response:
    async with read(request) as conn:
        names = await surveys.names(conn, viewer.account_id)
        rows: list[dict[str, Any]] = []
        next_url = None
        if not problems:
            errors = api_errors.Errors(QUEUE)
            filters = typed.parse(errors)
            after = service.parse_cursor(errors, request.query_params.get("after"))
            problems = [explain(e) for e in errors.items]
            if not problems:
                found = await service.queue_page(
                    SaSession(conn), viewer.account_id, filters, after=after
                )
                rows = [_row(r, names) for r in found.rows]
                if found.next_after is not None:
                    next_url = typed.url(after=found.next_after)
    context = {
        "title": "Queue",
        "nav": "queue",
        "typed": typed,
        "tabs": [(value, name, typed.url(state=value)) for value, name in TABS],
        "surveys": names,
        "date_inputs": {
            name: "date" if not value or _is_date(value) else "text"
            for name, value in (("from_time", typed.from_time), ("to_time", typed.to_time))
        },
        "rows": rows,
        "problems": problems,
        "notice": notice,
        "next_url": next_url,
        "first_url": typed.url() if request.query_params.get("after") else None,
        "export_url": typed.url(EXPORT),
        "back": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    }
    return web.page(request, viewer, "queue.html", context, 422 if problems else 200)


@router.get("/queue")
async def queue(request: Request, viewer: SignedIn) -> Response:
    """The queue page: one page of requests, the filters, the next-page and export links."""
    notice = None
    cancelled = parse_path_id(request.query_params.get("cancelled") or "")
    if cancelled is not None:
        notice = f"Feedback request {cancelled} is cancelled: its e-mail will not be sent."
    return await _page(request, viewer, Typed.of(request), [], notice=notice)


def _back(value: object) -> str:
    """The queue page to return to (a queue URL of this site, never anything else)."""
    if not isinstance(value, str):
        return QUEUE
    target = web.safe_next(value)
    return target if target.split("?")[0] == QUEUE else QUEUE


@router.post("/feedback_requests/{request_id}/cancel")
async def cancel(request: Request, request_id: str, viewer: SignedIn) -> Response:
    """Cancel a pending request: the API's DELETE, which for a sent one would erase its data,
    so anything but a pending request is refused here."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    found = parse_path_id(request_id)
    if found is None:
        raise web.NotFound
    back = _back(form.get("back"))
    try:
        async with transaction(request) as conn:
            before = await service.get(
                session=SaSession(conn), account_id=viewer.account_id, request_id=found
            )
            await service.delete(
                conn=conn, account_id=viewer.account_id, request_id=found, only_pending=True
            )
            # No customer data in the log: the request is gone, and so is its address.
            await audit.record(
                conn,
                viewer.account_id,
                viewer.actor,
                "feedback_request.cancelled",
                subject_type="feedback_request",
                subject_id=found,
                subject=f"Feedback request {found}",
                before={k: before.get(k) for k in ("state", "survey_id", "send_at")},
            )
    except api_errors.NotFound:
        raise web.NotFound from None
    except api_errors.ValidationFailed:
        context = {"title": "Not cancelled", "nav": "queue", "back": back, "request_id": found}
        return web.page(request, viewer, "queue_refused.html", context, 409)
    separator = "&" if "?" in back else "?"
    return web.redirect(f"{back}{separator}cancelled={found}")


@router.get("/feedback_requests.csv")
async def export(request: Request, viewer: SignedIn) -> Response:
    """The queue's requests as CSV, with the page's filters, streamed in batches."""
    typed = Typed.of(request)
    errors = api_errors.Errors(EXPORT)
    filters = typed.parse(errors)
    if errors:
        return await _page(request, viewer, typed, [explain(e) for e in errors.items])
    chunks = service.export_csv(request.app.state.direct.read, viewer.account_id, filters)
    name = f"feedback_requests-{utcnow():%Y-%m-%d}.csv"
    headers = {
        **web.SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="{name}"',
    }
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers=headers)
