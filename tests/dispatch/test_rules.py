"""The sending rules on plain data, without a database (``opensure.dispatch.rules``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from opensure.dispatch import rules
from opensure.dispatch.outcomes import Deferred, NotSent

NOW = dt.datetime(2024, 6, 5, 12, 0, tzinfo=dt.UTC)
POLICY = rules.RetryPolicy(base_seconds=60, max_seconds=3600, window_seconds=86400)


@dataclass(frozen=True)
class Request:
    id: int
    email: str | None = "kate@example.com"
    account_id: int = 1
    survey_deleted_at: dt.datetime | None = None
    min_interval_days: int | None = None


def test_removed_survey_and_erased_recipient_are_not_sent() -> None:
    requests = [
        Request(1),
        Request(2, survey_deleted_at=NOW),
        Request(3, email=None),
        Request(4, email=""),
        Request(5, email=None, survey_deleted_at=NOW),
    ]
    assert rules.removed_or_erased(requests) == {
        2: "survey removed",
        3: "recipient's personal data was erased",
        4: "recipient's personal data was erased",
        5: "survey removed",
    }


def test_unsubscribed_is_per_account_and_ignores_case() -> None:
    requests = [
        Request(1, email="Kate@Example.com"),
        Request(2, email="kate@example.com", account_id=2),
        Request(3, email="bob@example.com"),
        Request(4, email="kate@example.com", survey_deleted_at=NOW),
    ]
    reasons = rules.removed_or_erased(requests)
    # Only the requests still in question are looked up.
    assert [rules.address(r) for r in rules.to_check(requests, reasons)] == [
        (1, "kate@example.com"),
        (2, "kate@example.com"),
        (1, "bob@example.com"),
    ]
    gone = {(1, "kate@example.com")}
    assert rules.unsubscribed(requests, reasons, gone) == {1: "recipient unsubscribed"}


def test_minimum_interval_skips_recently_surveyed_and_all_but_one_per_address() -> None:
    requests = [
        Request(1, email="recent@example.com", min_interval_days=30),
        Request(2, email="new@example.com", min_interval_days=30),
        Request(3, email="NEW@example.com", min_interval_days=30),  # same address, same batch
        Request(4, email="new@example.com", account_id=2, min_interval_days=7),  # other account
        Request(5, email="new@example.com", account_id=3),  # no minimum interval
        Request(6, email="new@example.com", account_id=3),
    ]
    queries = rules.interval_queries(requests, {}, NOW)
    assert [(q.account_id, q.days, q.since, q.emails) for q in queries] == [
        (
            1,
            30,
            NOW - dt.timedelta(days=30),
            ["recent@example.com", "new@example.com", "new@example.com"],
        ),
        (2, 7, NOW - dt.timedelta(days=7), ["new@example.com"]),
    ]
    recent = {1: {"recent@example.com"}, 2: set()}
    assert rules.recently_surveyed(requests, {}, recent) == {
        1: "recipient surveyed within the last 30 days",
        3: "recipient surveyed within the last 30 days",
    }
    # A request ruled out already does not take its address's one email of the batch.
    assert rules.recently_surveyed(requests, {2: "recipient unsubscribed"}, recent) == {
        1: "recipient surveyed within the last 30 days"
    }


def test_sends_start_only_in_the_first_half_of_the_lease() -> None:
    deadline = rules.send_deadline(NOW, lease_seconds=300)
    assert deadline == NOW + dt.timedelta(seconds=150)
    assert rules.may_start_send(NOW + dt.timedelta(seconds=149), deadline)
    assert not rules.may_start_send(deadline, deadline)


def test_retries_back_off_exponentially_up_to_the_maximum() -> None:
    waits = []
    for attempts in range(10):
        decided = rules.after_temporary_failure(
            7, attempts=attempts, first_failed_at=NOW, now=NOW, error="451", policy=POLICY
        )
        assert isinstance(decided, Deferred)
        assert (decided.request_id, decided.at, decided.failure) == (7, NOW, "451")
        assert decided.attempt == attempts + 1
        waits.append((decided.next_at - NOW).total_seconds())
    assert waits == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600, 3600]
    jittered = rules.after_temporary_failure(
        7, attempts=0, first_failed_at=None, now=NOW, error="451", policy=POLICY, jitter=1.1
    )
    assert isinstance(jittered, Deferred)
    assert jittered.next_at == NOW + dt.timedelta(seconds=66)


def test_no_retry_is_planned_past_the_window_and_then_it_gives_up() -> None:
    first = NOW - dt.timedelta(hours=23, minutes=59)
    last = rules.after_temporary_failure(
        7, attempts=20, first_failed_at=first, now=NOW, error="421 busy", policy=POLICY
    )
    assert isinstance(last, Deferred)
    assert last.next_at == first + dt.timedelta(hours=24)

    given_up = rules.after_temporary_failure(
        7, attempts=21, first_failed_at=first, now=last.next_at, error="421 busy", policy=POLICY
    )
    assert given_up == NotSent(
        7, last.next_at, "delivery failed after retrying for 24 hours: 421 busy"
    )
    at_once = rules.RetryPolicy(60, 3600, 0)
    assert isinstance(
        rules.after_temporary_failure(
            7, attempts=0, first_failed_at=None, now=NOW, error="x", policy=at_once
        ),
        NotSent,
    )


def test_recently_bounced_addresses_are_not_sent_per_account_through_the_normaliser() -> None:
    requests = [
        Request(1, email="Kate@Example.com"),
        Request(2, email="kate@example.com", account_id=2),
        Request(3, email="ann@example.com"),
        Request(4, email=None),
    ]
    reasons = rules.removed_or_erased(requests)
    failed = {(1, "kate@example.com")}
    assert rules.bounced(requests, reasons, failed) == {1: "recipient bounced recently"}
    # A reason found first stays.
    assert rules.bounced(requests, {1: "survey removed"}, failed) == {}


def test_the_bounce_window() -> None:
    assert rules.bounce_window_start(NOW, 30) == NOW - dt.timedelta(days=30)
    assert rules.bounce_window_start(NOW, 0) is None
