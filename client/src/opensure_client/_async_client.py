"""AsyncClient: the asyncio client, with the same surface as Client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
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
from opensure_client._pagination import AsyncPager, Page
from opensure_client._resources.feedback_requests import AsyncFeedbackRequests
from opensure_client._resources.feedback_responses import AsyncFeedbackResponses
from opensure_client._resources.metrics import AsyncMetrics
from opensure_client._resources.sites import AsyncSites

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient(BaseClient):
    """The asyncio client: the same arguments and methods as Client, awaited.

    ::

        async with AsyncClient(user_agent="Acme Ltd", base_url="https://...") as api:
            await api.sites.get("hq")

    ``token`` defaults to ``$OPENSURE_API_TOKEN`` and ``base_url`` to ``$OPENSURE_BASE_URL``
    (else ``http://127.0.0.1:8000``). ``user_agent`` is required: the API refuses requests
    without one; use your company name. ``timeout`` is seconds or an ``httpx.Timeout``
    (default 30 s, 5 s to connect). Connection errors, timeouts, 429 and 5xx are retried up to
    ``max_retries`` times with jittered exponential backoff (honouring ``Retry-After``), for
    GET/PUT/DELETE always and for POST/PATCH only when an ``idempotency_key`` is given.
    Pass ``http_client`` to use your own ``httpx.AsyncClient`` (proxies, certificates, transports);
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
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            token=token,
            user_agent=user_agent,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.feedback_requests = AsyncFeedbackRequests(self)
        self.feedback_responses = AsyncFeedbackResponses(self)
        self.metrics = AsyncMetrics(self)
        self.sites = AsyncSites(self)

    async def aclose(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ---- used by the resources ----

    async def _request(self, call: Call) -> Reply:
        """Send ``call``, retrying as allowed; its successful reply or the error."""
        request_id = self.new_request_id()
        attempt = 0
        while True:
            request = self.build(self._http, call, request_id)
            error: OpenSureError
            try:
                response = await self._http.send(request, follow_redirects=True)
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
            await self._sleep(delay)
            attempt += 1

    async def _parse(self, model: type[T], call: Call) -> T:
        return parse(model, await self._request(call))

    async def _page(self, model: type[T], call: Call) -> Page[T]:
        reply = await self._request(call)
        if not isinstance(reply.json, list):
            raise UnexpectedResponseError(
                f"the answer from {reply.url.path} is not a list",
                status_code=reply.status_code,
                request_id=reply.request_id,
            )
        return Page([parse_value(model, raw, reply) for raw in reply.json], reply)

    def _pager(self, model: type[T], call: Call) -> AsyncPager[T]:
        async def fetch(next_call: Call) -> Page[T]:
            return await self._page(model, next_call)

        return AsyncPager(call, fetch)
