"""Request ids, structured logs and Prometheus metrics.

- Every response carries ``X-Request-Id`` (the client's, when it sent a sane one); log lines
  written while handling the request carry it too.
- ``OPENSURE_LOG_FORMAT=json`` writes one JSON object per log line.
- Metrics live in prometheus-client's registry; with several worker processes they are kept in
  ``PROMETHEUS_MULTIPROC_DIR`` (``opensure serve --workers N`` sets one up) so ``/metrics``
  answers for all of them.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import json
import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from opensure.api.errors import is_unavailable, unavailable_response
from opensure.api.negotiation import ASGIApp, Receive, Scope, Send

log = logging.getLogger("opensure.api")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")

HTTP_REQUESTS = Counter(
    "opensure_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "opensure_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EMAILS = Counter("opensure_emails_total", "Dispatch outcomes", ["outcome"])
DUE_REQUESTS = Gauge(
    "opensure_due_requests",
    "Pending feedback requests whose send_at has passed",
    multiprocess_mode="max",
)
OLDEST_DUE_AGE = Gauge(
    "opensure_oldest_due_request_age_seconds",
    "Seconds since the send_at of the oldest due pending request",
    multiprocess_mode="max",
)


# A random per-process prefix and a counter: unique, and far cheaper than uuid4 per request.
_ID_PREFIX = uuid.uuid4().hex[:12]
_id_counter = itertools.count(1)


def _new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):08x}"


@functools.lru_cache(maxsize=4096)
def _series(method: str, route: str, status: int) -> tuple[Any, Any]:
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
        request_id = incoming if incoming and _SANE_ID.match(incoming) else _new_request_id()
        token = request_id_var.set(request_id)
        status = 500
        started = False
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: dict[str, Any]) -> None:
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
            await unavailable_response(scope["path"])(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            counter, latency = _series(scope["method"], path, status)
            counter.inc()
            latency.observe(time.perf_counter() - start)
            request_id_var.reset(token)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def log_config(fmt: str = "text", level: str = "INFO") -> dict[str, Any]:
    """uvicorn's and OpenSure's loggers, as text or one JSON object per line."""
    formatter: dict[str, Any]
    if fmt == "json":
        formatter = {"()": JsonFormatter}
    else:
        formatter = {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["default"], "level": level, "propagate": False},
            "opensure": {"handlers": ["default"], "level": level, "propagate": False},
        },
    }
