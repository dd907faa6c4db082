"""The one error type of the API and the handlers that render it in the CustomerSure format.

Every error body is ``{"message": ...}``; validation errors add
``"errors": [{"resource", "field", "error", "extra_info"}, ...]`` with every problem at once.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import asyncpg
import orjson
from fastapi import FastAPI, Request
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from opensure.core.translations import N_

log = logging.getLogger("opensure.api")


class PageErrors(NamedTuple):
    """How errors on HTML pages are shown: the app passes the pages' own (this layer knows no
    page): which paths are pages, and the self-contained page for a status."""

    is_page: Callable[[str], bool]
    # (status, title, message, headers, Accept-Language): the page translates the title and
    # message (English texts marked with ``N_``) into the browser's language.
    render: Callable[[int, str, str, Mapping[str, str] | None, str | None], Response]


def _no_pages(_path: str) -> bool:
    return False


# Set once by install(); the API alone (no pages) answers JSON everywhere.
_pages = PageErrors(_no_pages, lambda *a, **k: Response())


def is_page(path: str) -> bool:
    return _pages.is_page(path)


def bare_page(
    status_code: int,
    title: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    accept_language: str | None = None,
) -> Response:
    return _pages.render(status_code, title, message, headers, accept_language)


JSON_TYPE = "application/json; charset=utf-8"

ERROR_CODES = (
    "required",
    "invalid_format",
    "wrong_length",
    "invalid_value",
    "forbidden_value",
    "invalid_date",
    "custom",
)


def json_response(
    content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(content), status_code, headers, media_type=JSON_TYPE)


class ApiError(Exception):
    """An error the client can act on: status, message and, for 422, the field errors."""

    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.errors = errors
        self.headers = headers

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return body

    def response(self) -> Response:
        return json_response(self.body(), self.status_code, self.headers)


class BadJson(ApiError):
    status_code = 400

    def __init__(self, message: str = "Problems parsing JSON") -> None:
        super().__init__(message)


class Unauthorized(ApiError):
    status_code = 401

    def __init__(self) -> None:
        super().__init__(
            "Bad credentials", headers={"WWW-Authenticate": 'Token realm="Application"'}
        )


class Forbidden(ApiError):
    status_code = 403


class UnpermittedParameters(Forbidden):
    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__("Unpermitted parameters: " + ", ".join(names))


class NotFound(ApiError):
    status_code = 404

    def __init__(self, message: str = "Not Found") -> None:
        super().__init__(message)


class NotAcceptable(ApiError):
    status_code = 406


class UnsupportedMediaType(ApiError):
    status_code = 415


class ValidationFailed(ApiError):
    status_code = 422

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("Validation error", errors=errors)


class ServiceUnavailable(ApiError):
    status_code = 503


def field_error(
    resource: str, field: str, error: str, extra_info: dict[str, Any] | None = None
) -> dict[str, Any]:
    assert error in ERROR_CODES, error
    return {"resource": resource, "field": field, "error": error, "extra_info": extra_info or {}}


class Errors:
    """Collects field errors so a request reports all of them at once."""

    def __init__(self, resource: str) -> None:
        self.resource = resource
        self.items: list[dict[str, Any]] = []

    def add(self, field: str, error: str, extra_info: dict[str, Any] | None = None) -> None:
        self.items.append(field_error(self.resource, field, error, extra_info))

    def has(self, field: str) -> bool:
        return any(e["field"] == field for e in self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationFailed(self.items)


_STATUS_MESSAGES = {
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request body too large",
}


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str | None:
    """Every method some route answers on this path.

    Starlette's own 405 names only the methods of the first route whose path matched, so a
    path served by several routes (GET and POST /feedback_requests) would list just one.
    """
    allowed = []
    for method in _METHOD_ORDER:
        probe = {k: v for k, v in request.scope.items() if k not in ("fastapi", "route")}
        probe["method"] = method
        if any(route.matches(dict(probe))[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    behind_gate = "account_id" in request.scope.get("state", {})
    if behind_gate and "GET" in allowed and "HEAD" not in allowed:
        allowed.insert(allowed.index("GET") + 1, "HEAD")  # ApiGate answers HEAD as GET
    return ", ".join(allowed) or None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = _STATUS_MESSAGES.get(exc.status_code) or str(exc.detail)
    if exc.status_code == 204 or exc.status_code < 200:
        return Response(status_code=exc.status_code, headers=exc.headers)
    headers = exc.headers
    if exc.status_code == 405:
        allow = _allowed_methods(request)
        if allow:
            headers = {**(headers or {}), "Allow": allow}
    if is_page(request.url.path):
        return bare_page(
            exc.status_code,
            message,
            N_("This page can't do that."),
            headers,
            request.headers.get("accept-language"),
        )
    return json_response({"message": message}, exc.status_code, headers)


# The database is down or unreachable: the client should retry, nothing is wrong with the request.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,  # starting up, shutting down
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    # a connection left unusable by a server restart (it is closed, see opensure.db.fast)
    asyncpg.InternalClientError,
    sqlite3.OperationalError,  # locked past busy_timeout, file unreadable
)


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    # SQLAlchemy wraps the driver's exception twice: ``exc.orig`` is its asyncpg adapter's
    # DBAPI error, whose cause is asyncpg's own exception.
    orig = getattr(exc, "orig", None)
    return any(isinstance(e, UNAVAILABLE) for e in (exc, orig, getattr(orig, "__cause__", None)))


def unavailable_response(path: str = "", accept_language: str | None = None) -> Response:
    retry = {"Retry-After": "5"}
    if is_page(path):
        return bare_page(
            503,
            N_("Please try again shortly"),
            N_("We can't take answers for a moment."),
            retry,
            accept_language,
        )
    return json_response({"message": "Service temporarily unavailable, please retry"}, 503, retry)


async def _unavailable(request: Request, exc: Exception) -> Response:
    if not is_unavailable(exc):
        return await _server_error(request, exc)
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return unavailable_response(request.url.path, request.headers.get("accept-language"))


async def _server_error(request: Request, exc: Exception) -> Response:
    if is_unavailable(exc):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return unavailable_response(request.url.path, request.headers.get("accept-language"))
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if is_page(request.url.path):
        # People, not programs, read the survey pages: a page, still without a stack trace.
        return bare_page(
            500,
            N_("Something went wrong"),
            N_("Sorry, we couldn't show this page just now. Please try again in a few minutes."),
            None,
            request.headers.get("accept-language"),
        )
    return json_response({"message": "Server error"}, 500)


def install(app: FastAPI, *, pages: PageErrors | None = None) -> None:
    global _pages
    if pages is not None:
        _pages = pages
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for exc_type in (
        sa_exc.DBAPIError,
        sa_exc.TimeoutError,
        ConnectionError,
        asyncpg.PostgresError,
    ):
        app.add_exception_handler(exc_type, _unavailable)
    app.add_exception_handler(Exception, _server_error)
