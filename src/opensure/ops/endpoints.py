"""Probes and metrics, outside the versioned API: /healthz, /readyz, /metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from starlette.responses import Response

from opensure.api.errors import is_unavailable, json_response
from opensure.core.clock import utcnow
from opensure.db.migrate import is_current
from opensure.dispatch import repository as dispatch_repo
from opensure.telemetry import DUE_REQUESTS, OLDEST_DUE_AGE

router = APIRouter(tags=["Operations"])


@router.get("/healthz")
async def healthz() -> Response:
    """The process is alive (says nothing about the database)."""
    return json_response({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """Ready for traffic: the database answers and its schema is the newest."""
    try:
        current = await is_current(request.app.state.reader)
    except Exception as exc:
        if not is_unavailable(exc) and not isinstance(exc, OSError):
            raise
        return json_response({"status": "unavailable", "database": "unreachable"}, 503)
    if not current:
        return json_response({"status": "unavailable", "database": "migration needed"}, 503)
    return json_response({"status": "ok", "database": "ok"})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, latency, emails, due-queue depth and age."""
    try:
        async with request.app.state.reader.connect() as conn:
            now = utcnow()
            count, oldest = await dispatch_repo.due_stats(conn, now)
        DUE_REQUESTS.set(count)
        OLDEST_DUE_AGE.set((now - oldest).total_seconds() if oldest else 0)
    except Exception as exc:
        if not is_unavailable(exc) and not isinstance(exc, OSError):
            raise
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = DEFAULT_REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
