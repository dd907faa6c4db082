"""The console's routers, in the order app.py mounts them."""

from __future__ import annotations

from fastapi import APIRouter

from opensure.console import audit_log, auth, dashboards, inbox, queue, settings

ROUTERS: list[APIRouter] = [
    auth.router,
    inbox.router,
    queue.router,
    dashboards.router,
    settings.router,
    audit_log.router,
]
