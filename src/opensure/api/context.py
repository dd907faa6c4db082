"""X-Request-Id in and out of every HTTP response, and per-route request count and latency."""

from __future__ import annotations

import functools
import logging
import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opensure.api.errors import is_unavailable, unavailable_response
from opensure.telemetry import HTTP_LATENCY, HTTP_REQUESTS, SANE_ID, new_request_id, request_id_var

log = logging.getLogger("opensure.api")


@functools.lru_cache(maxsize=4096)
def _series(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    """The metric children of one (method, route, status); looked up once, not per request."""
    return HTTP_REQUESTS.labels(method, route, str(status)), HTTP_LATENCY.labels(method, route)


class RequestContext:
    """X-Request-Id in and out, and per-route request count and latency."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and SANE_ID.match(incoming) else new_request_id()
        token = request_id_var.set(request_id)
        status = 500
        started = False
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # The database went away under a middleware (the token check, outside the routes'
            # exception handlers): answer 503 here. Left to the server error handler, the 503
            # would lack X-Request-Id, be counted as a 500, and uvicorn would drop the
            # keep-alive connection under the client's next request.
            if started or not is_unavailable(exc):
                raise
            log.warning("database unavailable on %s %s: %s", scope["method"], scope["path"], exc)
            accept = dict(scope.get("headers") or []).get(b"accept-language", b"")
            await unavailable_response(scope["path"], accept.decode("latin-1"))(
                scope, receive, send_with_id
            )
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            counter, latency = _series(scope["method"], path, status)
            counter.inc()
            latency.observe(time.perf_counter() - start)
            request_id_var.reset(token)
