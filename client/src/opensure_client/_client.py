"""Client: the synchronous client, one connection pool per instance."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

import httpx

from opensure_client._base import (
    DEFAULT_MAX_RETRIES,
    BaseClient,
    Call,
    Reply,
    log,
    parse,
    parse_value,
)
from opensure_client._errors import OpenSureError, UnexpectedResponseError
from opensure_client._pagination import Page, Pager
from opensure_client._resources.feedback_requests import FeedbackRequests
from opensure_client._resources.feedback_responses import FeedbackResponses
from opensure_client._resources.metrics import Metrics
from opensure_client._resources.sites import Sites

__all__ = ["Client"]

T = TypeVar("T")


class Client(BaseClient):
    """A client for the CustomerSure API v1 (OpenSure, CustomerSure, or any server speaking it).

    ::

        with Client(user_agent="Acme Ltd", base_url="https://feedback.example.com") as api:
            api.sites.get("hq")

    ``token`` defaults to ``$OPENSURE_API_TOKEN`` and ``base_url`` to ``$OPENSURE_BASE_URL``
    (else ``http://127.0.0.1:8000``). ``user_agent`` is required: the API refuses requests
    without one; use your company name. ``timeout`` is seconds or an ``httpx.Timeout``
    (default 30 s, 5 s to connect). Connection errors, timeouts, 429 and 5xx are retried up to
    ``max_retries`` times with jittered exponential backoff (honouring ``Retry-After``), for
    GET/PUT/DELETE always and for POST/PATCH only when an ``idempotency_key`` is given.
    Pass ``http_client`` to use your own ``httpx.Client`` (proxies, certificates, transports);
    the client then leaves closing it to you.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        user_agent: str,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            token=token,
            user_agent=user_agent,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        self._sleep: Callable[[float], None] = time.sleep
        self.feedback_requests = FeedbackRequests(self)
        self.feedback_responses = FeedbackResponses(self)
        self.metrics = Metrics(self)
        self.sites = Sites(self)

    def close(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- used by the resources ----

    def _request(self, call: Call) -> Reply:
        """Send ``call``, retrying as allowed; its successful reply or the error."""
        request_id = self.new_request_id()
        attempt = 0
        while True:
            request = self.build(self._http, call, request_id)
            error: OpenSureError
            try:
                response = self._http.send(request, follow_redirects=True)
            except httpx.HTTPError as exc:
                error = self.transport_error(exc, request)
            else:
                failure = self.status_error(response)
                if failure is None:
                    return self.reply(response)
                error = failure
            delay = self.retry_delay(call, attempt, error)
            if delay is None:
                raise error
            log.info(
                "%s %s failed (%s); retry %d of %d in %.2f s",
                call.method,
                request.url.path,
                error,
                attempt + 1,
                self.max_retries,
                delay,
            )
            self._sleep(delay)
            attempt += 1

    def _parse(self, model: type[T], call: Call) -> T:
        return parse(model, self._request(call))

    def _page(self, model: type[T], call: Call) -> Page[T]:
        reply = self._request(call)
        if not isinstance(reply.json, list):
            raise UnexpectedResponseError(
                f"the answer from {reply.url.path} is not a list",
                status_code=reply.status_code,
                request_id=reply.request_id,
            )
        return Page([parse_value(model, raw, reply) for raw in reply.json], reply)

    def _pager(self, model: type[T], call: Call) -> Pager[T]:
        def fetch(next_call: Call) -> Page[T]:
            return self._page(model, next_call)

        return Pager(fetch(call), fetch)
