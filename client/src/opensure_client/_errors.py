"""Every exception the client raises.

Catch ``OpenSureError`` for all of them, or one family::

    OpenSureError                     anything raised by this package
    ├── APIConnectionError            no answer: refused, reset, DNS, TLS (retried)
    │   └── APITimeoutError           connect, read, write or pool timeout (retried)
    ├── UnexpectedResponseError       an answer the client cannot read (not JSON, wrong shape)
    └── APIStatusError                the server answered with an error status
        ├── BadRequestError           400  malformed JSON
        ├── AuthenticationError       401  missing, wrong or revoked token
        ├── PermissionDeniedError     403  unpermitted parameters, missing User-Agent
        ├── NotFoundError             404  no such object (or another account's)
        ├── NotAcceptableError        406  the Accept header does not name API v1
        ├── UnprocessableEntityError  422  validation: ``errors`` lists every problem
        ├── RateLimitError            429  ``retry_after`` seconds (retried)
        └── ServerError               5xx  (retried)

Any other status (405, 415, an unfollowed 3xx, ...) raises ``APIStatusError`` itself.
Every exception carries ``status_code`` (``None`` when there was no answer), ``message``
(the server's ``message``, or a description) and ``request_id`` (the ``X-Request-Id`` the
server answered with, else the one the client sent). ``errors`` is the parsed validation
list (empty except on 422).
"""

from __future__ import annotations

from typing import Any

import httpx

from opensure_client._models import ErrorDetail

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "NotAcceptableError",
    "NotFoundError",
    "OpenSureError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
]


class OpenSureError(Exception):
    """Base class of every exception raised by opensure_client."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        errors: list[ErrorDetail] | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.errors: list[ErrorDetail] = errors or []
        self.response = response

    @property
    def status(self) -> int | None:
        """Alias of ``status_code``."""
        return self.status_code

    def __str__(self) -> str:
        parts = [self.message]
        if self.status_code is not None:
            parts.insert(0, f"{self.status_code}")
        text = " ".join(parts)
        if self.errors:
            text += ": " + "; ".join(e.describe() for e in self.errors)
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class APIConnectionError(OpenSureError):
    """The server could not be reached, or the connection broke before an answer."""


class APITimeoutError(APIConnectionError):
    """A connect, read, write or pool timeout."""


class UnexpectedResponseError(OpenSureError):
    """The server answered, but not with what the CustomerSure API v1 promises."""


class APIStatusError(OpenSureError):
    """The server answered with an error status (the subclasses name the common ones)."""

    status_code: int


class BadRequestError(APIStatusError):
    """400: the body was not valid JSON."""


class AuthenticationError(APIStatusError):
    """401: the token is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: unpermitted parameters were sent, or the User-Agent was missing."""


class NotFoundError(APIStatusError):
    """404: no such object in this account."""


class NotAcceptableError(APIStatusError):
    """406: the server does not serve the version named in the Accept header."""


class UnprocessableEntityError(APIStatusError):
    """422: validation failed; ``errors`` holds every problem the server found."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` is the server's advice in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx: the server failed; it is worth trying again later."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    406: NotAcceptableError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class(status_code: int) -> type[APIStatusError]:
    """The exception class for an error status."""
    if status_code >= 500:
        return ServerError
    return _BY_STATUS.get(status_code, APIStatusError)
