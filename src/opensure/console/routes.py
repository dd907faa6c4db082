"""The console's routers, in the order app.py mounts them."""

from __future__ import annotations

from fastapi import APIRouter

from opensure.console import auth, dashboards, inbox, queue, settings, templates_editor

ROUTERS: list[APIRouter] = [
    auth.router,
    inbox.router,
    queue.router,
    dashboards.router,
    settings.router,
    templates_editor.router,
]
