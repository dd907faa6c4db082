"""What Client and AsyncClient share: settings, requests, retry decisions, error mapping.

Nothing here does I/O, so the synchronous and asynchronous clients differ only in how they
send a request and how they sleep between attempts.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from opensure_client._errors import (
    APIConnectionError,
    APITimeoutError,
    OpenSureError,
    RateLimitError,
    UnexpectedResponseError,
    error_class,
)
from opensure_client._models import ErrorDetail
from opensure_client._version import __version__

log = logging.getLogger("opensure_client")

T = TypeVar("T")

MEDIA_TYPE = "application/vnd.customersure.v1+json"
TOKEN_ENV = "OPENSURE_API_TOKEN"
BASE_URL_ENV = "OPENSURE_BASE_URL"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Connecting should be quick; a large list page on a busy server may take a while.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_MAX_RETRIES = 2
INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 8.0
# A longer Retry-After is not slept through inside a call: the error goes to the caller.
MAX_RETRY_AFTER = 60.0

# PATCH is not here: items without an id are added on every attempt.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_LINK = re.compile(r"<(?P<url>[^>]*)>\s*((?:;\s*[^;,]+)*)")
_REL = re.compile(r';\s*rel\s*=\s*"?(?P<rel>[^";,]+)"?', re.IGNORECASE)


@dataclass(frozen=True)
class Call:
    """One API operation: what to send. ``url`` is a path, or an absolute URL from a Link."""

    method: str
    url: str
    params: list[tuple[str, str]] = field(default_factory=list)
    json: dict[str, Any] | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Reply:
    """A successful answer: its JSON (None for 204) and headers."""

    status_code: int
    json: Any
    headers: httpx.Headers
    url: httpx.URL
    request_id: str | None


def segment(value: str | int) -> str:
    """A path segment, escaped (``.`` and ``..`` would otherwise be collapsed)."""
    text = quote(str(value), safe="")
    if text in (".", ".."):
        text = text.replace(".", "%2E")
    return text


def query(**params: Any) -> list[tuple[str, str]]:
    """Query pairs; lists become ``name[]`` repeated, as the CustomerSure examples write them."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, list):
            pairs.extend((f"{name}[]", str(v)) for v in value)
        else:
            pairs.append((name, str(value)))
    return pairs


def parse_links(header: str | None) -> dict[str, str]:
    """``Link: <url>; rel="next", ...`` as ``{"next": url, ...}``."""
    links: dict[str, str] = {}
    if not header:
        return links
    for match in _LINK.finditer(header):
        for rel in _REL.finditer(match.group(0)):
            for name in rel.group("rel").split():
                links.setdefault(name.lower(), match.group("url").strip())
    return links


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: a number of seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, float(seconds))


def backoff(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: between half and all of 0.5 s x 2^attempt (max 8 s)."""
    ceiling = min(MAX_BACKOFF, INITIAL_BACKOFF * 2.0**attempt)
    return ceiling * (0.5 + 0.5 * rand())


class BaseClient:
    """Settings and the I/O-free steps of a call."""

    def __init__(
        self,
        *,
        token: str | None,
        user_agent: str,
        base_url: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
    ) -> None:
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        if not token or not token.strip():
            raise ValueError(f"no API token: pass token=... or set {TOKEN_ENV}")
        if not isinstance(user_agent, str) or not user_agent.strip():
            raise ValueError(
                "user_agent is required: the API refuses requests without one "
                "(use your company name, e.g. 'Acme Ltd')"
            )
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        base = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        self.base_url = httpx.URL(base.rstrip("/"))
        if self.base_url.scheme not in ("http", "https") or not self.base_url.host:
            raise ValueError(f"base_url must be an http(s) URL, not {base!r}")
        self.user_agent = user_agent.strip()
        self.timeout = DEFAULT_TIMEOUT if timeout is None else httpx.Timeout(timeout)
        self.max_retries = max_retries
        self.max_retry_after = MAX_RETRY_AFTER
        self._token = token.strip()
        self._random: Callable[[], float] = random.random

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={str(self.base_url)!r})"

    # ---- building the request ----

    def url(self, target: str) -> httpx.URL:
        """A path under base_url; an absolute URL (from a Link) is kept on base_url's origin.

        Links carry the server's idea of its own address; a server behind a proxy or with a
        misconfigured public URL may name another host. Following only the path and query
        keeps the token on the host the caller chose.
        """
        if "://" not in target:
            return httpx.URL(str(self.base_url) + target)
        url = httpx.URL(target)
        base = self.base_url
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            url = url.copy_with(scheme=base.scheme, host=base.host, port=base.port)
        return url

    def headers(self, call: Call, request_id: str) -> dict[str, str]:
        headers = {
            "User-Agent": f"{self.user_agent} opensure-client/{__version__}",
            "Accept": MEDIA_TYPE,
            "Authorization": f'Token token="{self._token}"',
            "X-Request-Id": request_id,
        }
        if call.idempotency_key is not None:
            headers["Idempotency-Key"] = call.idempotency_key
        return headers

    def build(
        self, http: httpx.Client | httpx.AsyncClient, call: Call, request_id: str
    ) -> httpx.Request:
        return http.build_request(
            call.method,
            self.url(call.url),
            params=list(call.params) or None,
            json=call.json,
            headers=self.headers(call, request_id),
            timeout=self.timeout,
        )

    # ---- deciding what an answer means ----

    def new_request_id(self) -> str:
        """One id per call, kept across its retries so server logs show them together."""
        return uuid.uuid4().hex

    def retry_delay(self, call: Call, attempt: int, error: OpenSureError) -> float | None:
        """Seconds to wait before retrying ``call`` after ``error``, or None to raise it.

        Retried: connection errors, timeouts, 429 and 5xx, for GET/PUT/DELETE always and for
        POST/PATCH only with an idempotency key (without one the server may have acted).
        """
        if attempt >= self.max_retries:
            return None
        if call.method not in IDEMPOTENT_METHODS and call.idempotency_key is None:
            return None
        status = error.status_code
        if status is None:
            if not isinstance(error, APIConnectionError):
                return None
        elif status != 429 and status < 500:
            return None
        retry_after = parse_retry_after(
            error.response.headers.get("Retry-After") if error.response is not None else None
        )
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return backoff(attempt, self._random)

    def transport_error(self, exc: httpx.HTTPError, request: httpx.Request) -> OpenSureError:
        request_id = request.headers.get("X-Request-Id")
        text = str(exc) or type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"timed out: {text}", request_id=request_id)
        if isinstance(exc, httpx.TransportError):
            return APIConnectionError(f"connection failed: {text}", request_id=request_id)
        return OpenSureError(text, request_id=request_id)

    def status_error(self, response: httpx.Response) -> OpenSureError | None:
        """The exception for an unsuccessful answer, or None for a 2xx."""
        if response.is_success:
            return None
        request_id = _request_id(response)
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        message = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            message = body["message"]
        if not message:
            message = response.reason_phrase or f"HTTP {response.status_code}"
        errors: list[ErrorDetail] = []
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            for item in body["errors"]:
                try:
                    errors.append(ErrorDetail.model_validate(item))
                except pydantic.ValidationError:
                    continue
        cls = error_class(response.status_code)
        kwargs: dict[str, Any] = {
            "status_code": response.status_code,
            "request_id": request_id,
            "errors": errors,
            "response": response,
        }
        if cls is RateLimitError:
            kwargs["retry_after"] = parse_retry_after(response.headers.get("Retry-After"))
        return cls(message, **kwargs)

    def reply(self, response: httpx.Response) -> Reply:
        """A 2xx answer read: JSON, or None when there is no body."""
        data: Any = None
        if response.status_code != 204 and response.content.strip():
            try:
                data = response.json()
            except ValueError:
                raise UnexpectedResponseError(
                    f"the answer to {response.request.method} {response.request.url.path} "
                    "is not JSON",
                    status_code=response.status_code,
                    request_id=_request_id(response),
                    response=response,
                ) from None
        return Reply(
            response.status_code, data, response.headers, response.url, _request_id(response)
        )


def _request_id(response: httpx.Response) -> str | None:
    value = response.headers.get("X-Request-Id") or response.request.headers.get("X-Request-Id")
    return str(value) if value else None


@lru_cache(maxsize=64)
def _cached_adapter(model: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(model)


def _adapter(model: Any) -> pydantic.TypeAdapter[Any]:
    return _cached_adapter(model)


def parse(model: type[T], reply: Reply) -> T:
    """A reply's JSON as ``model``, or UnexpectedResponseError."""
    return parse_value(model, reply.json, reply)


def parse_value(model: type[T], value: Any, reply: Reply) -> T:
    """``value`` (part of ``reply``) as ``model``, or UnexpectedResponseError."""
    try:
        result: T = _adapter(model).validate_python(value)
    except pydantic.ValidationError as exc:
        raise UnexpectedResponseError(
            f"the answer from {reply.url.path} does not look like a {_name(model)}: {exc}",
            status_code=reply.status_code,
            request_id=reply.request_id,
        ) from None
    return result


def _name(model: Any) -> str:
    return str(getattr(model, "__name__", model))
