"""Telemetry, a leaf every layer may use: request ids, structured logs, Prometheus metrics.

- Log lines written while handling a request carry its id (``request_id_var``, set by
  :class:`opensure.api.context.RequestContext`).
- ``OPENSURE_LOG_FORMAT=json`` writes one JSON object per log line.
- Metrics live in prometheus-client's registry; with several worker processes they are kept in
  ``PROMETHEUS_MULTIPROC_DIR`` (``opensure serve --workers N`` sets one up) so ``/metrics``
  answers for all of them.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import re
import uuid
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger("opensure.api")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")

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


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):08x}"


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
