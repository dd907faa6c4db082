"""The retry schedule and event lists (no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from opensure.core import webhooks as rules

T0 = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def test_first_retry_within_30_seconds_then_growing_for_at_least_three_days() -> None:
    now, attempts, waits = T0, 0, []
    while True:
        attempts += 1
        nxt = rules.next_attempt(attempts, T0, now)
        if nxt is None:
            break
        waits.append((nxt - now).total_seconds())
        now = nxt
    assert waits[0] <= 30
    assert waits == sorted(waits)
    assert now - T0 >= dt.timedelta(days=3)
    assert now - T0 < dt.timedelta(days=3, hours=3)
    assert max(waits) == 3 * 3600


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (None, "all"),
        ("", "all"),
        ("all", "all"),
        (
            "feedback_request.sent, feedback_response.created",
            "feedback_response.created,feedback_request.sent",
        ),
    ],
)
def test_event_lists(given: str | None, stored: str) -> None:
    assert rules.parse_events(given) == stored
    assert rules.wants(stored, "feedback_response.created")


def test_unknown_event_type() -> None:
    with pytest.raises(ValueError, match="Unknown event type 'nope'"):
        rules.parse_events("feedback_request.sent,nope")
    assert not rules.wants("feedback_request.sent", "feedback_request.not_sent")
