"""A deadline for a request's headers, which uvicorn does not have.

uvicorn's keep-alive timeout only runs between requests: a client that opens a connection and
sends nothing, or half of its request headers, then stalls ("slowloris"), keeps its socket
for ever. It holds no worker (the server is asynchronous), but enough of them exhaust file
descriptors. :class:`HeaderTimeoutProtocol` is uvicorn's own httptools protocol with one
timer more: from the moment a connection opens (and from the first byte of each further request
on a kept-alive connection) the headers must be complete within
``OPENSURE_HEADER_TIMEOUT_SECONDS``; otherwise the client gets a 408 in the API's error format
and the connection is closed. A body that stalls is answered 408 by the endpoint that reads it
(``OPENSURE_BODY_TIMEOUT_SECONDS``, opensure.api.request).

It uses the parser callbacks of uvicorn's protocol (``connection_made``, ``on_message_begin``,
``on_headers_complete``, ``connection_lost``), passed to uvicorn as ``http=`` (a documented
setting); ``tests/hardening/test_slow_clients.py`` would notice if they changed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from opensure.config import get_settings

_BODY = orjson.dumps({"message": "Request headers not received in time"})
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json; charset=utf-8\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + _BODY
)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = get_settings().header_timeout_seconds
        self._header_deadline: asyncio.TimerHandle | None = None

    def _start_header_clock(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _stop_header_clock(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.write(TIMEOUT_RESPONSE)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_clock()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_header_clock()

    def on_headers_complete(self) -> None:
        self._stop_header_clock()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_clock()
        super().connection_lost(exc)
