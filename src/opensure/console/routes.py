"""The console's routers, in the order app.py mounts them."""

from __future__ import annotations

from fastapi import APIRouter

from opensure.console import auth, dashboards

ROUTERS: list[APIRouter] = [auth.router, dashboards.router]
