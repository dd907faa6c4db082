"""create_app(): the ASGI application for the API (and, later, survey pages and probes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from opensure import __version__
from opensure.api import errors, openapi
from opensure.api.context import RequestContext
from opensure.api.negotiation import MEDIA_TYPE, ApiGate, TokenCache
from opensure.api.ratelimit import make_limiter
from opensure.api.request import base_url
from opensure.config import Settings, get_settings
from opensure.console import web as console_web
from opensure.console.routes import ROUTERS as CONSOLE_ROUTERS
from opensure.core.runtime import freeze_startup_heap
from opensure.db import create_engine, reader
from opensure.db.fast import open_direct
from opensure.dispatch import bouncebox
from opensure.dispatch.housekeeping import Housekeeping
from opensure.dispatch.webhooks import WebhookSender
from opensure.dispatch.worker import Dispatcher
from opensure.feedback_requests import events as request_events
from opensure.feedback_requests.endpoints import router as feedback_requests_router
from opensure.feedback_requests.events import DispatchEvents
from opensure.feedback_responses.endpoints import router as feedback_responses_router
from opensure.hooks.endpoints import router as bounce_hooks
from opensure.hooks.service import complain
from opensure.metrics.endpoints import router as metrics_router
from opensure.ops.endpoints import router as ops_router
from opensure.pages import security as page_security
from opensure.pages.brand import router as brand_files
from opensure.pages.endpoints import router as survey_pages
from opensure.sites.endpoints import router as sites_router
from opensure.stores import tokens as tokens_store
from opensure.users import service as users

STATIC = Path(__file__).parent / "pages" / "static"

DESCRIPTION = f"""
The CustomerSure API v1, served by OpenSure.

Every request needs three headers: `User-Agent` (your company name),
`Accept: {MEDIA_TYPE}` and `Authorization: Token token=YOUR_TOKEN`.
Errors are JSON: `{{"message": ...}}`, with an `errors` array on 422.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        app.state.engine = engine
        app.state.reader = reader(engine)
        app.state.direct = await open_direct(settings.database_url)
        reader_engine = app.state.reader
        app.state.tokens = TokenCache(
            lambda digest: tokens_store.account_for(reader_engine, digest),
            settings.token_cache_seconds,
            touch=lambda digests, now: tokens_store.mark_used(engine, digests, now),
        )
        app.state.limiter = make_limiter(
            settings.rate_limit, settings.rate_limit_window_seconds, settings.redis_url
        )
        # Loaded on first use by the survey pages: a process must start even while the
        # database is away (it answers 503 until it is back).
        app.state.secret = settings.secret_key
        stop = asyncio.Event()
        background: list[asyncio.Task[None]] = []
        if settings.run_dispatcher:
            app.state.dispatcher = Dispatcher(engine, settings, events=DispatchEvents())
            background.append(asyncio.create_task(app.state.dispatcher.run(stop)))
            # Webhook events are delivered beside the e-mails, wherever a dispatcher runs.
            app.state.webhooks = WebhookSender.from_settings(engine, settings)
            background.append(asyncio.create_task(app.state.webhooks.run(stop)))
            # Expired Idempotency-Keys and ended console sessions are swept wherever a
            # dispatcher runs.
            app.state.housekeeping = Housekeeping(engine, also=[users.housekeeping_job(settings)])
            background.append(asyncio.create_task(app.state.housekeeping.run(stop)))
            # The bounce mailbox (OPENSURE_BOUNCE_MAILBOX), when there is one.
            app.state.bounce_reader = bouncebox.reader_for(
                engine,
                settings,
                on_failed=request_events.delivery_failed,
                on_complaint=complain,
            )
            if app.state.bounce_reader is not None:
                background.append(asyncio.create_task(app.state.bounce_reader.run(stop)))
        freeze_startup_heap()
        try:
            yield
        finally:
            stop.set()
            for task in background:
                await task
            await app.state.tokens.settle()
            if app.state.limiter is not None:
                await app.state.limiter.close()
            await app.state.direct.close()
            await engine.dispose()

    app = FastAPI(
        title="OpenSure API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
        # /docs and /redoc are installed by openapi.install_docs, with their assets served here.
        docs_url=None,
        redoc_url=None,
        # Requests are counted and timed by opensure.telemetry (Prometheus); FastAPI's own
        # OpenTelemetry instrumentation would look up providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.bounce_hooks = None  # the SES hook's way to SNS (hooks.service.Clients), on first use
    errors.install(app, pages=errors.PageErrors(_is_html_page, page_security.bare_page))
    console_web.install(app)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    openapi.install(app)
    openapi.install_docs(app)
    app.include_router(feedback_requests_router)
    app.include_router(feedback_responses_router)
    app.include_router(sites_router)
    app.include_router(metrics_router)
    app.include_router(ops_router, include_in_schema=False)
    app.include_router(survey_pages)
    app.include_router(brand_files)
    app.include_router(bounce_hooks)
    for router in CONSOLE_ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount(
        console_web.PREFIX + "/static",
        StaticFiles(directory=console_web.STATIC),
        name="console-static",
    )

    def scope_base_url(scope: Scope) -> str:
        return base_url(Request(scope))

    app.add_middleware(
        ApiGate,
        tokens=lambda: app.state.tokens,
        base_url=scope_base_url,
        limiter=lambda: app.state.limiter,
        # A browser opening / is led to the console; API clients get the gate's answers.
        browser_home="/app/",
    )
    # Outermost: every response, the gate's errors included, gets a request id and is counted.
    app.add_middleware(RequestContext)
    return app


def _is_html_page(path: str) -> bool:
    """Paths whose errors are pages, not JSON: the survey pages and the console."""
    return page_security.is_page(path) or console_web.is_console(path)


async def _request_validation_error(request: Request, exc: Exception) -> Response:
    # Only reachable through a mistake in a route declaration: every endpoint reads and
    # validates its own input so that errors come out in the CustomerSure format.
    assert isinstance(exc, RequestValidationError)
    resource = request.url.path
    items = [
        errors.field_error(resource, ".".join(str(p) for p in e["loc"][1:]), "invalid_value")
        for e in exc.errors()
    ]
    return errors.ValidationFailed(items).response()
