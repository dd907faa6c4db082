"""Retries: which failures and verbs, how long between attempts (on a fake clock), how many."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from opensure_client import APIConnectionError, NotFoundError, RateLimitError, ServerError
from opensure_client._base import backoff

UNAVAILABLE = {"message": "Service temporarily unavailable, please retry"}


def test_server_error_is_retried_with_exponential_backoff(api: Any) -> None:
    api.on(
        "GET",
        "/sites/hq",
        api.reply(500, {"message": "Server error"}),
        api.reply(502, {"message": "Bad gateway"}),
        api.reply(503, UNAVAILABLE),
        api.reply(200, api.site()),
    )
    site = api.client(max_retries=3).sites.get("hq")
    assert site.site_code == "hq"
    assert len(api.requests) == 4
    # The fake random() is 0.5: three quarters of 0.5 s, 1 s, 2 s.
    assert api.clock.sleeps == [0.375, 0.75, 1.5]


def test_the_same_request_id_on_every_attempt(api: Any) -> None:
    api.on("GET", "/sites/hq", api.reply(503, UNAVAILABLE), api.reply(200, api.site()))
    api.client().sites.get("hq")
    ids = {r.headers["X-Request-Id"] for r in api.requests}
    assert len(ids) == 1


def test_gives_up_after_max_retries(api: Any) -> None:
    api.on("GET", "/sites/hq", api.reply(500, {"message": "Server error"}))
    with pytest.raises(ServerError):
        api.client(max_retries=2).sites.get("hq")
    assert len(api.requests) == 3
    assert len(api.clock.sleeps) == 2


def test_max_retries_zero_means_one_attempt(api: Any) -> None:
    api.on("GET", "/sites/hq", api.reply(500, {"message": "Server error"}))
    with pytest.raises(ServerError):
        api.client(max_retries=0).sites.get("hq")
    assert len(api.requests) == 1
    assert api.clock.sleeps == []


def test_retry_after_seconds_is_honoured(api: Any) -> None:
    api.on(
        "GET",
        "/nps",
        api.reply(429, {"message": "Slow down"}, {"Retry-After": "3"}),
        api.reply(503, UNAVAILABLE, {"Retry-After": "5"}),
        api.reply(200, {"promoter_count": 0, "passive_count": 0, "detractor_count": 0}),
    )
    api.client().metrics.nps()
    assert api.clock.sleeps == [3.0, 5.0]


def test_retry_after_http_date_is_honoured(api: Any) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    api.on(
        "GET",
        "/nps",
        api.reply(429, {"message": "Slow down"}, {"Retry-After": when}),
        api.reply(200, {"promoter_count": 0, "passive_count": 0, "detractor_count": 0}),
    )
    api.client().metrics.nps()
    assert len(api.clock.sleeps) == 1
    assert 17 <= api.clock.sleeps[0] <= 20


def test_429_without_retry_after_backs_off(api: Any) -> None:
    api.on(
        "GET",
        "/sites/hq",
        api.reply(429, {"message": "Slow down"}),
        api.reply(200, api.site()),
    )
    api.client().sites.get("hq")
    assert api.clock.sleeps == [0.375]


def test_a_long_retry_after_is_left_to_the_caller(api: Any) -> None:
    api.on("GET", "/sites/hq", api.reply(429, {"message": "Slow down"}, {"Retry-After": "3600"}))
    with pytest.raises(RateLimitError) as caught:
        api.client().sites.get("hq")
    assert caught.value.retry_after == 3600
    assert len(api.requests) == 1
    assert api.clock.sleeps == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 406, 422])
def test_client_errors_are_not_retried(api: Any, status: int) -> None:
    api.on("GET", "/sites/hq", api.reply(status, {"message": "no"}))
    with pytest.raises(Exception) as caught:
        api.client().sites.get("hq")
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    assert len(api.requests) == 1


def test_connection_errors_and_timeouts_are_retried(api: Any) -> None:
    api.on(
        "GET",
        "/sites/hq",
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("reset"),
        api.reply(200, api.site()),
    )
    assert api.client(max_retries=3).sites.get("hq").site_code == "hq"
    assert len(api.requests) == 4


def test_put_and_delete_are_retried(api: Any) -> None:
    api.on("PUT", "/sites/hq", api.reply(503, UNAVAILABLE), api.reply(200, api.site()))
    api.on("DELETE", "/sites/hq", httpx.ConnectError("refused"), api.reply(204))
    client = api.client()
    client.sites.replace("hq", name="HQ")
    client.sites.delete("hq")
    assert [r.method for r in api.requests] == ["PUT", "PUT", "DELETE", "DELETE"]
    assert api.body(0) == api.body(1)


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), "503", "429"]
)
def test_post_without_idempotency_key_is_not_retried(api: Any, failure: Any) -> None:
    if failure == "503":
        failure = api.reply(503, UNAVAILABLE)
    elif failure == "429":
        failure = api.reply(429, {"message": "Slow down"}, {"Retry-After": "1"})
    api.on("POST", "/sites", failure, api.reply(201, api.site()))
    with pytest.raises((APIConnectionError, ServerError, RateLimitError)):
        api.client().sites.create(site_code="hq", name="HQ")
    assert len(api.requests) == 1


def test_post_with_idempotency_key_is_retried_with_the_same_key(api: Any) -> None:
    api.on(
        "POST",
        "/feedback_requests",
        httpx.ReadTimeout("slow"),
        api.reply(503, UNAVAILABLE),
        api.reply(201, api.feedback_request()),
    )
    api.client().feedback_requests.create(
        email="kate@example.com",
        send_at=datetime(2026, 12, 1),
        survey_id=12,
        idempotency_key="ticket-4411-closed",
    )
    assert len(api.requests) == 3
    assert {r.headers["Idempotency-Key"] for r in api.requests} == {"ticket-4411-closed"}
    assert api.body(0) == api.body(2)


def test_patch_follows_the_post_rule(api: Any) -> None:
    api.on("PATCH", "/sites/hq", api.reply(503, UNAVAILABLE), api.reply(200, api.site()))
    client = api.client()
    with pytest.raises(ServerError):
        client.sites.update("hq", name="HQ")
    assert len(api.requests) == 1
    api.on("PATCH", "/sites/hq", api.reply(503, UNAVAILABLE), api.reply(200, api.site()))
    client.sites.update("hq", name="HQ", idempotency_key="rename-1")
    assert len(api.requests) == 3


def test_not_found_after_retry_is_raised(api: Any) -> None:
    api.on(
        "GET", "/sites/hq", api.reply(503, UNAVAILABLE), api.reply(404, {"message": "Not Found"})
    )
    with pytest.raises(NotFoundError):
        api.client().sites.get("hq")
    assert len(api.requests) == 2


def test_backoff_is_jittered_and_capped() -> None:
    assert backoff(0, lambda: 0.0) == 0.25
    assert backoff(0, lambda: 1.0) == 0.5
    assert backoff(3, lambda: 1.0) == 4.0
    assert backoff(10, lambda: 1.0) == 8.0
    assert backoff(10, lambda: 0.0) == 4.0


async def test_async_client_retries_on_its_clock(async_api: Any) -> None:
    async_api.on(
        "GET",
        "/sites/hq",
        httpx.ConnectError("refused"),
        async_api.reply(429, {"message": "Slow down"}, {"Retry-After": "2"}),
        async_api.reply(200, async_api.site()),
    )
    site = await async_api.async_client().sites.get("hq")
    assert site.site_code == "hq"
    assert async_api.clock.sleeps == [0.375, 2.0]


async def test_async_post_without_key_is_not_retried(async_api: Any) -> None:
    async_api.on("POST", "/sites", async_api.reply(500, {"message": "Server error"}))
    with pytest.raises(ServerError):
        await async_api.async_client().sites.create(site_code="hq", name="HQ")
    assert len(async_api.requests) == 1
