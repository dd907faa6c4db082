"""Whether a claimed request may be sent, and what to do after a temporary failure.

Pure functions over plain data (a loaded request needs only the attributes of ``Request``):
the dispatcher reads what they need from the database and records what they decide.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from opensure.core.emails import normalise_email
from opensure.dispatch.outcomes import Deferred, NotSent, ReminderDeferred, ReminderDropped

SURVEY_REMOVED = "survey removed"
ERASED = "recipient's personal data was erased"
UNSUBSCRIBED = "recipient unsubscribed"
BOUNCED = "recipient bounced recently"
ANSWERED = "the customer answered"
DELIVERY_FAILED = "the first e-mail was not delivered"


class Request(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def account_id(self) -> int: ...
    @property
    def email(self) -> str | None: ...
    @property
    def survey_deleted_at(self) -> dt.datetime | None: ...
    @property
    def min_interval_days(self) -> int | None: ...


def address(request: Request) -> tuple[int, str]:
    """Whom a request goes to, as unsubscribes and the minimum interval see it."""
    return request.account_id, normalise_email(request.email or "")


def removed_or_erased(requests: Iterable[Request]) -> dict[int, str]:
    """Requests whose survey was removed or whose recipient's personal data was erased."""
    reasons: dict[int, str] = {}
    for r in requests:
        if r.survey_deleted_at is not None:
            reasons[r.id] = SURVEY_REMOVED
        elif not r.email:
            reasons[r.id] = ERASED
    return reasons


def to_check(requests: Iterable[Request], reasons: Mapping[int, str]) -> list[Request]:
    """The requests not yet ruled out."""
    return [r for r in requests if r.id not in reasons]


def unsubscribed(
    requests: Iterable[Request], reasons: Mapping[int, str], gone: Collection[tuple[int, str]]
) -> dict[int, str]:
    """Requests to an (account, address) in ``gone``, the unsubscribed ones."""
    return {r.id: UNSUBSCRIBED for r in to_check(requests, reasons) if address(r) in gone}


def bounce_window_start(now: dt.datetime, days: int) -> dt.datetime | None:
    """Since when a permanent failure keeps an address from being surveyed
    (OPENSURE_BOUNCE_SUPPRESSION_DAYS; 0: never, None)."""
    return now - dt.timedelta(days=days) if days > 0 else None


def bounced(
    requests: Iterable[Request],
    reasons: Mapping[int, str],
    failed: Collection[tuple[int, str]],
) -> dict[int, str]:
    """Requests to an (account, address) in ``failed``: the account's e-mails to it failed for
    good (a bounce or a 5xx reply) within the suppression window."""
    return {r.id: BOUNCED for r in to_check(requests, reasons) if address(r) in failed}


@dataclass(frozen=True)
class IntervalQuery:
    """Which addresses of an account to look up as sent to since ``since``."""

    account_id: int
    days: int
    since: dt.datetime
    emails: list[str]


def interval_queries(
    requests: Iterable[Request], reasons: Mapping[int, str], now: dt.datetime
) -> list[IntervalQuery]:
    by_account: dict[int, list[Request]] = {}
    for r in to_check(requests, reasons):
        if r.min_interval_days:
            by_account.setdefault(r.account_id, []).append(r)
    return [
        IntervalQuery(
            account_id,
            days := rows[0].min_interval_days or 0,
            now - dt.timedelta(days=days),
            [address(r)[1] for r in rows],
        )
        for account_id, rows in by_account.items()
    ]


def recently_surveyed(
    requests: Iterable[Request],
    reasons: Mapping[int, str],
    recent: Mapping[int, Collection[str]],
) -> dict[int, str]:
    """Requests to addresses surveyed within their account's minimum interval (``recent``:
    per account, the normalised addresses sent to within it), and every request after the
    first to one address in this batch: one email per address per batch."""
    found: dict[int, str] = {}
    seen: dict[int, set[str]] = {}
    for r in to_check(requests, reasons):
        if not r.min_interval_days:
            continue
        account, email = address(r)
        taken = seen.setdefault(account, set(recent.get(account, ())))
        if email in taken:
            found[r.id] = f"recipient surveyed within the last {r.min_interval_days} days"
        else:
            taken.add(email)
    return found


# ---- the one reminder (docs/reminders.md) ----


def reminder_due(sent_at: dt.datetime, days: int | None) -> dt.datetime | None:
    """When a request sent at ``sent_at`` gets its reminder (None: reminders are off)."""
    return sent_at + dt.timedelta(days=days) if days and days > 0 else None


class ReminderRequest(Request, Protocol):
    @property
    def answered(self) -> bool: ...
    @property
    def delivery_failure(self) -> str | None: ...
    @property
    def deletion_requested_at(self) -> dt.datetime | None: ...


def no_reminder(requests: Sequence[ReminderRequest]) -> dict[int, str]:
    """Requests whose reminder must not go, as far as the request itself tells: its survey was
    removed, its personal data erased, it was answered, or its first e-mail failed for good
    (unsubscribes and the bounce window are looked up as for first e-mails)."""
    reasons = removed_or_erased(requests)
    for r in requests:
        if r.id in reasons:
            continue
        if r.deletion_requested_at is not None:
            reasons[r.id] = ERASED
        elif r.answered:
            reasons[r.id] = ANSWERED
        elif r.delivery_failure is not None:
            reasons[r.id] = DELIVERY_FAILED
    return reasons


def reminder_after_temporary_failure(
    request_id: int,
    *,
    first_due: dt.datetime,
    now: dt.datetime,
    error: str,
    policy: RetryPolicy,
) -> ReminderDeferred | ReminderDropped:
    """Retry a reminder as a first e-mail is retried, never past the retry window from when it
    was first due. Without a count of attempts the wait doubles by itself: it is the time since
    the reminder was first due (at least the base delay, at most the maximum)."""
    window = dt.timedelta(seconds=policy.window_seconds)
    if now - first_due >= window:
        return ReminderDropped(
            request_id, now, f"delivery failed after retrying for {human(window)}: {error}"
        )
    waited = max((now - first_due).total_seconds(), policy.base_seconds)
    next_at = min(now + dt.timedelta(seconds=min(waited, policy.max_seconds)), first_due + window)
    return ReminderDeferred(request_id, now, next_at, error)


# ---- sending in time ----


def send_deadline(claimed_at: dt.datetime, lease_seconds: float) -> dt.datetime:
    """Until when a claimed batch may start new sends: half the lease, so that a send started
    in time has the other half to finish before anyone else may claim the request."""
    return claimed_at + dt.timedelta(seconds=lease_seconds / 2)


def may_start_send(now: dt.datetime, deadline: dt.datetime) -> bool:
    return now < deadline


# ---- retries ----


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    max_seconds: float
    window_seconds: float


def after_temporary_failure(
    request_id: int,
    *,
    attempts: int,
    first_failed_at: dt.datetime | None,
    now: dt.datetime,
    error: str,
    policy: RetryPolicy,
    jitter: float = 1.0,
) -> Deferred | NotSent:
    """Retry later with exponential backoff (times ``jitter``), never past the retry window
    from the first failure; once the window has passed, give up."""
    first = first_failed_at or now
    window = dt.timedelta(seconds=policy.window_seconds)
    if now - first >= window:
        reason = f"delivery failed after retrying for {human(window)}: {error}"
        return NotSent(request_id, now, reason)
    delay = min(policy.base_seconds * 2 ** min(attempts, 30), policy.max_seconds) * jitter
    next_at = min(now + dt.timedelta(seconds=delay), first + window)
    return Deferred(request_id, now, next_at, error, attempts + 1)


def human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0 and seconds >= 3600:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{seconds} seconds"
