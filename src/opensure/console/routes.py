"""The console's routers, in the order app.py mounts them."""

from __future__ import annotations

from fastapi import APIRouter

from opensure.console import (
    account_settings,
    audit_log,
    auth,
    dashboards,
    inbox,
    programme,
    programme_lists,
    programme_sites,
    queue,
    settings,
    survey_translations,
    surveys,
    templates_editor,
    webhooks,
)

ROUTERS: list[APIRouter] = [
    auth.router,
    inbox.router,
    queue.router,
    dashboards.router,
    settings.router,
    surveys.router,
    survey_translations.router,
    programme.router,
    programme_sites.router,
    programme_lists.router,
    account_settings.router,
    audit_log.router,
    templates_editor.router,
    webhooks.router,
]
