"""The checks every versioned API request passes first, in this order (SPEC §3):

1. ``User-Agent`` present                  → else 403
2. ``Accept`` names the v1 vendor type      → else 406
3. ``Authorization: Token token=…`` valid  → else 401
4. a trailing slash is redirected (301 for GET/HEAD, 307 otherwise)

Before them, one exception: a browser opening ``/`` (``GET``/``HEAD`` whose Accept prefers
HTML and does not name the vendor type) is sent to the console with a ``303``; an API client
asking for ``/`` gets the answers above, as before.

A pure ASGI middleware, so the checks cost no extra task or body buffering per request.
Routing (404/405), body parsing and validation follow inside the app.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable

from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opensure.api.errors import (
    ApiError,
    NotAcceptable,
    Unauthorized,
    json_response,
)
from opensure.api.ratelimit import Limiter, Quota
from opensure.core.clock import utcnow
from opensure.core.tokens import hash_token

log = logging.getLogger("opensure.api")

MEDIA_TYPE = "application/vnd.customersure.v1+json"
# Paths outside the versioned API: documentation, survey pages, probes, the console.
EXEMPT_PREFIXES = (
    "/docs",
    "/redoc",
    "/openapi.json",
    "/s/",
    "/u/",
    "/static/",
    "/brand/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/favicon.ico",
    "/app",
    "/hooks/",
)
# A prefix without a trailing slash names one path and what lies below it, nothing more:
# "/docs" and "/docs/oauth2-redirect" are exempt, "/docsx" and "/openapi.jsonx" are not.
_EXEMPT_EXACT = frozenset(p for p in EXEMPT_PREFIXES if not p.endswith("/"))
_EXEMPT_TREES = tuple(p if p.endswith("/") else p + "/" for p in EXEMPT_PREFIXES)

_TOKEN = re.compile(
    r'^\s*(?:Token\s+token\s*=\s*"?(?P<token>[^"\s,]+)"?|Bearer\s+(?P<bearer>\S+))',
    re.IGNORECASE,
)


def is_exempt(path: str) -> bool:
    """A path outside the versioned API (documentation, survey pages, probes)."""
    return path in _EXEMPT_EXACT or path.startswith(_EXEMPT_TREES)


def accepts_v1(accept: str) -> bool:
    for media_range in accept.split(","):
        if media_range.split(";", 1)[0].strip().lower() == MEDIA_TYPE:
            return True
    return False


_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0
    return 1.0


def prefers_html(accept: str | None) -> bool:
    """Whether an Accept header (a browser's) asks for HTML before anything else it names:
    ``text/html`` at the highest quality given, and not the API's vendor type. ``*/*`` or no
    Accept at all is an API client's."""
    if not accept or accepts_v1(accept):
        return False
    best, html = 0.0, 0.0
    for media_range in accept.split(","):
        kind, *params = media_range.split(";")
        q = _quality(params)
        best = max(best, q)
        if kind.strip().lower() in _HTML_TYPES:
            html = max(html, q)
    return html > 0 and html >= best


def token_from_header(value: str) -> str | None:
    m = _TOKEN.match(value)
    if m is None:
        return None
    return m["token"] or m["bearer"]


# token hash → (account id, stored hash) of an active token, or None (the app passes the
# tokens store's lookup: this layer knows no table).
TokenLookup = Callable[[str], Awaitable[tuple[int, str] | None]]
# (token hashes, when): record that API calls used these tokens (the store's mark_used).
TokenTouch = Callable[[list[str], dt.datetime], Awaitable[None]]
TOUCH_EVERY = 60.0


class TokenCache:
    """token hash → account id, each entry trusted for ``ttl`` seconds.

    Saves a database round trip on almost every request; a revoked token stops working
    within ``ttl`` seconds because entries are not refreshed, only looked up again.

    With ``touch``, it also records when each token was last used, without a statement on the
    request's path: the first use of a token, and the first after ``touch_every`` seconds,
    queue its hash, and one background task writes the queued hashes in one statement. So a
    token's time is written at most once a minute per process, and is accurate to a minute.
    """

    def __init__(
        self,
        lookup: TokenLookup,
        ttl: float,
        max_entries: int = 10_000,
        *,
        touch: TokenTouch | None = None,
        touch_every: float = TOUCH_EVERY,
    ) -> None:
        self.lookup = lookup
        self.ttl = ttl
        self.max_entries = max_entries
        self.touch = touch
        self.touch_every = touch_every
        self._entries: dict[str, tuple[int, float]] = {}
        self._touched: dict[str, float] = {}  # token hash → monotonic time it was queued
        self._due: set[str] = set()
        self._writing: asyncio.Task[None] | None = None

    async def account_id(self, token: str) -> int | None:
        digest = hash_token(token)
        now = time.monotonic()
        hit = self._entries.get(digest)
        if hit is not None and hit[1] > now:
            self._used(digest, now)
            return hit[0]
        found = await self.lookup(digest)
        if found is None or not hmac.compare_digest(found[1], digest):
            self._entries.pop(digest, None)
            return None
        account_id = found[0]
        if self.ttl > 0:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[digest] = (account_id, now + self.ttl)
        self._used(digest, now)
        return account_id

    def _used(self, digest: str, now: float) -> None:
        if self.touch is None:
            return
        last = self._touched.get(digest)
        if last is not None and now - last < self.touch_every:
            return
        if len(self._touched) >= self.max_entries:
            self._touched.clear()
        self._touched[digest] = now
        self._due.add(digest)
        if self._writing is None:
            self._writing = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        assert self.touch is not None
        try:
            while self._due:
                digests = sorted(self._due)
                self._due.clear()
                try:
                    await self.touch(digests, utcnow())
                except Exception:  # the database away: the time is written a minute later
                    log.warning("could not record when %d API tokens were used", len(digests))
        finally:
            self._writing = None

    async def settle(self) -> None:
        """Wait until the last-used times queued so far are written (shutdown, tests)."""
        if self._writing is not None:
            await self._writing

    def forget(self) -> None:
        self._entries.clear()


def _header(scope: Scope, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def _without_body(send: Send) -> Send:
    async def send_headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_headers_only


class ApiGate:
    """User-Agent, Accept and token checks, then the trailing-slash redirect."""

    def __init__(
        self,
        app: ASGIApp,
        tokens: Callable[[], TokenCache],
        base_url: Callable[[Scope], str],
        limiter: Callable[[], Limiter | None] = lambda: None,
        browser_home: str | None = None,
    ):
        self.app = app
        self.tokens = tokens
        self.base_url = base_url
        self.limiter = limiter
        self.browser_home = browser_home

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.browser_home is not None and self._browser_at_root(scope):
            home = self.base_url(scope) + self.browser_home
            await RedirectResponse(home, status_code=303)(scope, receive, send)
            return
        try:
            account_id, token = await self._check(scope)
        except ApiError as exc:
            await exc.response()(scope, receive, send)
            return
        limiter = self.limiter()
        if limiter is not None:
            quota = await limiter.hit(hash_token(token))
            if quota.exceeded:
                await _too_many(quota)(scope, receive, send)
                return
            send = _with_headers(send, quota.headers())
        scope.setdefault("state", {})["account_id"] = account_id
        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            await self._redirect(scope, receive, send, path.rstrip("/") or "/")
            return
        if scope["method"] == "HEAD":
            # HEAD is GET without the body (RFC 9110 §9.3.2); the routes only declare GET.
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _browser_at_root(scope: Scope) -> bool:
        return (
            scope["path"] == "/"
            and scope["method"] in ("GET", "HEAD")
            and prefers_html(_header(scope, b"accept"))
        )

    async def _check(self, scope: Scope) -> tuple[int, str]:
        user_agent = _header(scope, b"user-agent")
        if user_agent is None or not user_agent.strip():
            raise ApiError("Missing or invalid User Agent string", status_code=403)
        accept = _header(scope, b"accept")
        if accept is None or not accepts_v1(accept):
            raise NotAcceptable(
                f"Unsupported or missing API version in the Accept header. "
                f"Send 'Accept: {MEDIA_TYPE}'"
            )
        authorization = _header(scope, b"authorization")
        token = token_from_header(authorization) if authorization else None
        if not token:
            raise Unauthorized()
        account_id = await self.tokens().account_id(token)
        if account_id is None:
            raise Unauthorized()
        return account_id, token

    async def _redirect(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        location = self.base_url(scope) + path + (f"?{query}" if query else "")
        status = 301 if scope["method"] in ("GET", "HEAD") else 307
        message = "Moved Permanently" if status == 301 else "Temporary Redirect"
        response = json_response({"message": message}, status, {"Location": location})
        await response(scope, receive, send)


def _too_many(quota: Quota) -> Response:
    wait = max(1, quota.reset - int(time.time()))
    response = json_response(
        {
            "message": f"API rate limit exceeded for this token: {quota.limit} requests per "
            f"window. Try again in {wait} seconds."
        },
        429,
        {"Retry-After": str(wait)},
    )
    response.raw_headers.extend(quota.headers())
    return response


def _with_headers(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *headers]
        await send(message)

    return wrapped
