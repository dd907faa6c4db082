"""Unit-test fixtures: a scripted fake server behind ``httpx.MockTransport`` and a fake clock.

``api`` (``async_api`` for async tests) answers each (method, path) with the responses queued
for it, in order (the last one repeats); a queued exception is raised instead, as a broken
connection would. Every request is recorded. Clients made by ``api.client()`` and
``api.async_client()`` sleep on a fake clock that only records how long they asked to wait.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from opensure_client import AsyncClient, Client

BASE = "http://testserver"
TOKEN = "os_test_token"
Answer = httpx.Response | BaseException | Callable[[httpx.Request], httpx.Response]


def reply(
    status: int = 200, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A JSON response as the API sends it (no body for None)."""
    headers = {"X-Request-Id": "req-from-server", **(headers or {})}
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json; charset=utf-8", **headers},
    )


def site(code: str = "hq", **extra: Any) -> dict[str, Any]:
    return {
        "site_code": code,
        "name": f"Site {code}",
        "city": None,
        "region": None,
        "country_code": None,
        **extra,
    }


def feedback_request(id: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "id": id,
        "email": "kate@example.com",
        "state": "pending",
        "first_name": "Kate",
        "surname": None,
        "survey_id": 12,
        "email_template_id": None,
        "reference": "#1041",
        "machine_id": None,
        "send_at": "2026-11-27T09:00:00Z",
        "sent_at": None,
        "created_at": "2026-11-26T15:57:41Z",
        "updated_at": "2026-11-26T15:57:41Z",
        "deletion_requested_at": None,
        "not_sent_reason": None,
        "delivery_failure": None,
        "reminder_sent_at": None,
        "data": [{"id": 7, "key": "staff_code", "value": "luke"}],
        "query_params": [],
        **extra,
    }


def feedback_response(id: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "id": id,
        "reference": None,
        "machine_id": None,
        "survey_id": 12,
        "fields": {"email": "kate@example.com", "name": "Kate", "telephone_number": None},
        "answers": [
            {"question_id": 5, "question": "Recommend us?", "answer": "10", "type": "Rating"}
        ],
        "submitted_at": "2026-11-26T10:00:00Z",
        "updated_at": "2026-11-26T10:00:00Z",
        "feedback_request": None,
        **extra,
    }


class FakeClock:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


class FakeApi:
    """A scripted server; ``FakeApi.reply`` and the sample objects are here for the tests."""

    reply = staticmethod(reply)
    site = staticmethod(site)
    feedback_request = staticmethod(feedback_request)
    feedback_response = staticmethod(feedback_response)

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.requests: list[httpx.Request] = []
        self.clock = FakeClock()
        self._opened: list[Client | AsyncClient] = []

    def on(self, method: str, path: str, *answers: Answer) -> None:
        """Answer ``method path`` (path may include ``?query``) with ``answers`` in turn."""
        self.routes[(method, path)] = list(answers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        target = request.url.raw_path.decode()
        answers = self.routes.get((request.method, target)) or self.routes.get(
            (request.method, request.url.path)
        )
        if not answers:
            return reply(404, {"message": "Not Found"})
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)

    def client(self, **kwargs: Any) -> Client:
        kwargs.setdefault("token", TOKEN)
        kwargs.setdefault("user_agent", "Acme Ltd")
        kwargs.setdefault("base_url", BASE)
        http = httpx.Client(transport=httpx.MockTransport(self.handle))
        client = Client(http_client=http, **kwargs)
        client._sleep = self.clock.sleep
        client._random = lambda: 0.5
        self._opened.append(client)
        return client

    def async_client(self, **kwargs: Any) -> AsyncClient:
        kwargs.setdefault("token", TOKEN)
        kwargs.setdefault("user_agent", "Acme Ltd")
        kwargs.setdefault("base_url", BASE)
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))
        client = AsyncClient(http_client=http, **kwargs)
        client._sleep = self.clock.async_sleep
        client._random = lambda: 0.5
        self._opened.append(client)
        return client

    async def aclose(self) -> None:
        for client in self._opened:
            if isinstance(client, AsyncClient):
                await client._http.aclose()
            else:
                client._http.close()


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    yield fake
    for client in fake._opened:
        if isinstance(client, Client):
            client._http.close()


@pytest.fixture
async def async_api() -> AsyncIterator[FakeApi]:
    fake = FakeApi()
    yield fake
    await fake.aclose()
