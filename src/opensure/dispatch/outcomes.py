"""What became of a claimed request, as the dispatcher records it, and the one place that
counts and logs outcomes.

- ``Sent``: the SMTP server accepted the email, or rejected it for good (``failure`` says how;
  such a request is not retried).
- ``NotSent``: it will never be sent (``reason``: survey removed, unsubscribed, template
  broken, retries exhausted, …).
- ``Deferred``: a temporary failure; due again at ``next_at``.

A sent request's one reminder (docs/reminders.md) has outcomes of its own, so that
recording one can never touch the first e-mail's state, ``sent_at`` or ``delivery_failure``
(the response rate counts a request once):

- ``ReminderSent``: the SMTP server accepted the reminder.
- ``ReminderDropped``: there will be no reminder (answered, unsubscribed, bounced, erased,
  survey removed, rejected for good, retries exhausted: ``reason``).
- ``ReminderDeferred``: a temporary failure; the reminder is due again at ``next_at``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from opensure.telemetry import EMAILS

log = logging.getLogger("opensure.dispatch")


@dataclass(frozen=True, slots=True)
class Sent:
    request_id: int
    at: dt.datetime
    failure: str | None = None
    # When the request's one reminder is due (None: no reminder).
    reminder_due_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class NotSent:
    request_id: int
    at: dt.datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Deferred:
    request_id: int
    at: dt.datetime
    next_at: dt.datetime
    failure: str
    attempt: int  # the attempt that failed, from 1


@dataclass(frozen=True, slots=True)
class ReminderSent:
    request_id: int
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class ReminderDropped:
    request_id: int
    at: dt.datetime
    reason: str


@dataclass(frozen=True, slots=True)
class ReminderDeferred:
    request_id: int
    at: dt.datetime
    next_at: dt.datetime
    failure: str


Outcome = Sent | NotSent | Deferred | ReminderSent | ReminderDropped | ReminderDeferred


@dataclass
class Stats:
    sent: int = 0
    failed: int = 0
    not_sent: int = 0
    deferred: int = 0
    reminders: int = 0


def note(outcome: Outcome, stats: Stats, detail: str = "") -> None:
    """Count an outcome (metrics and ``stats``) and log one line for it."""
    match outcome:
        case Sent(failure=None):
            stats.sent += 1
            _log("sent", outcome.request_id, detail)
        case Sent(failure=failure):
            stats.failed += 1
            _log("delivery failed", outcome.request_id, failure or "")
        case NotSent(reason=reason):
            stats.not_sent += 1
            _log("not sent", outcome.request_id, reason)
        case Deferred():
            stats.deferred += 1
            wait = (outcome.next_at - outcome.at).total_seconds()
            _log(
                "deferred",
                outcome.request_id,
                f"attempt {outcome.attempt}, retry in {wait:.0f}s: {outcome.failure}",
            )
        case ReminderSent():
            stats.reminders += 1
            _log("reminder sent", outcome.request_id, detail)
        case ReminderDropped(reason=reason):
            _log("reminder dropped", outcome.request_id, reason)
        case ReminderDeferred():
            wait = (outcome.next_at - outcome.at).total_seconds()
            _log(
                "reminder deferred", outcome.request_id, f"retry in {wait:.0f}s: {outcome.failure}"
            )


_COUNTERS: dict[str, Any] = {}


def _log(what: str, request_id: int, detail: str) -> None:
    counter = _COUNTERS.get(what)
    if counter is None:
        counter = _COUNTERS[what] = EMAILS.labels(what.replace(" ", "_"))
    counter.inc()
    log.info("request %s %s: %s", request_id, what, detail)
