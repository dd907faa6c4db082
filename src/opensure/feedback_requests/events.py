"""Webhook events about feedback requests (SPEC §9), written in the transaction that records
what happened to them: ``feedback_request.sent``, ``.not_sent`` and ``.delivery_failed``, the
``data`` being the request exactly as ``GET /feedback_requests/{id}`` returns it.

The dispatcher records outcomes below the resources (it knows no resource), so the wiring
hands it :class:`DispatchEvents` (``Dispatcher(events=...)``), which it calls with each group
of outcomes inside the group's transaction. A bounce recorded later calls
:func:`emit_for_requests` the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.core.clock import utcnow
from opensure.core.webhooks import wants
from opensure.db.fast import SaSession, Session
from opensure.dispatch.outcomes import NotSent, Outcome, Sent
from opensure.feedback_requests import repository as repo
from opensure.feedback_requests.schemas import to_json
from opensure.stores import webhooks as outbox

SENT = "feedback_request.sent"
NOT_SENT = "feedback_request.not_sent"
DELIVERY_FAILED = "feedback_request.delivery_failed"
# The state a request is in when each event is written (a request another dispatcher
# recorded first keeps its own outcome, and gets no event from this one).
_STATE = {SENT: "sent", DELIVERY_FAILED: "sent", NOT_SENT: "not_sent"}


def event_type(outcome: Outcome) -> str | None:
    """The event an outcome causes (none for a deferral: the request is still pending)."""
    if isinstance(outcome, Sent):
        return SENT if outcome.failure is None else DELIVERY_FAILED
    if isinstance(outcome, NotSent):
        return NOT_SENT
    return None


async def emit_for_requests(session: Session, events: Sequence[tuple[int, str]]) -> int:
    """Write events (request id, type) for the endpoints of the requests' accounts that want
    them, in the caller's transaction; how many rows were written. One statement when no
    account of these requests has an endpoint."""
    subscribed = await outbox.endpoints_for_requests(session, [i for i, _ in events])
    wanted = [
        (request_id, kind, endpoint_id)
        for request_id, kind in events
        for endpoint_id, types in subscribed.get(request_id, ())
        if wants(types, kind)
    ]
    if not wanted:
        return 0
    found = await repo.many(session, list({request_id for request_id, _, _ in wanted}))
    rows = [
        (endpoint_id, kind, to_json(*found[request_id]))
        for request_id, kind, endpoint_id in wanted
        if request_id in found and found[request_id][0].state == _STATE.get(kind, "")
    ]
    await outbox.insert(session, rows, utcnow())
    return len(rows)


async def delivery_failed(conn: AsyncConnection, request_id: int) -> int:
    """``feedback_request.delivery_failed`` for a failure recorded after sending (a bounce), in
    the caller's transaction (``dispatch.bounces.apply``'s ``on_failed``)."""
    return await emit_for_requests(SaSession(conn), [(request_id, DELIVERY_FAILED)])


class DispatchEvents:
    """The dispatcher's hook. While no account has any endpoint, a process asks the database
    at most once a second (``ttl``): the dispatcher's group commits stay one statement."""

    def __init__(self, ttl: float = 1.0) -> None:
        self.ttl = ttl
        self._none_until = 0.0

    async def wanted(self, session: Session) -> bool:
        """Whether some account may want events (cached while the answer is no)."""
        if time.monotonic() < self._none_until:
            return False
        if await outbox.any_endpoint(session):
            return True
        self._none_until = time.monotonic() + self.ttl
        return False

    async def write(self, session: Session, outcomes: Sequence[Outcome]) -> None:
        events = [(o.request_id, t) for o in outcomes if (t := event_type(o)) is not None]
        if events:
            await emit_for_requests(session, events)
