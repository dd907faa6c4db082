"""Expressions over a feedback request's items that several layers read with the request
itself (the dispatcher's batch query, the survey page's request-by-token query)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from opensure.models import FeedbackRequestItem

_item = FeedbackRequestItem.__table__


def language_of(request_id: Any) -> Any:
    """The request's ``language`` data item (SPEC §10), as a column of the query that loads the
    request: no statement of its own. The first one if several were given."""
    return (
        select(_item.c.value)
        .where(
            _item.c.feedback_request_id == request_id,
            _item.c.kind == "data",
            _item.c.key == "language",
        )
        .order_by(_item.c.id)
        .limit(1)
        .scalar_subquery()
    )
