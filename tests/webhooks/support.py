"""A real HTTP receiver on 127.0.0.1 for webhook tests, and helpers to make endpoints and
deliver what is due."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fastapi import FastAPI
from standardwebhooks import Webhook

from opensure.core import netcheck
from opensure.core.clock import utcnow
from opensure.dispatch.webhooks import WebhookSender
from opensure.webhooks import service as webhooks
from tests.dispatch.support import free_port

DRAIN_TIMEOUT = 30


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


class _Server(ThreadingHTTPServer):
    block_on_close = False  # a hanging answer does not hold up the test's end


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST. It answers 200, or the statuses
    scripted with ``answer(500, …)`` in order; ``stop()`` and ``start()`` take it down and
    bring it back on the same port."""

    def __init__(self, port: int | None = None, *, hang_first: float = 0.0) -> None:
        """``hang_first``: seconds the first request waits for its answer (a slow receiver)."""
        self.port = port or free_port()
        self.hang_first = hang_first
        self.hits: list[Hit] = []
        self.script: list[int] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def answer(self, *statuses: int) -> None:
        self.script.extend(statuses)

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:
                    return  # the sender went away half-way (killed): nothing was received
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.hits.append(Hit(self.path, headers, body))
                if len(receiver.hits) == 1 and receiver.hang_first:
                    time.sleep(receiver.hang_first)
                status = receiver.script.pop(0) if receiver.script else 200
                answer = f"answered {status}".encode()
                try:
                    self.send_response(status)
                    self.send_header("content-length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting (or was killed)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every body received, each verified with the reference implementation."""
        return [Webhook(secret).verify(h.body, h.headers) for h in self.hits]


async def create_endpoint(
    app: FastAPI, account_id: int, url: str, events: str | None = None
) -> dict[str, Any]:
    """An endpoint on a loopback receiver (so: allowed onto the private network)."""
    async with app.state.engine.begin() as conn:
        return await webhooks.create_endpoint(
            conn, account_id, url=url, events=events, allow_private_network=True
        )


async def show(app: FastAPI, endpoint_id: int) -> dict[str, Any]:
    async with app.state.engine.connect() as conn:
        return await webhooks.show_endpoint(conn, None, endpoint_id)


async def emit(app: FastAPI, account_id: int, event_type: str, data: dict[str, Any]) -> list[str]:
    async with app.state.engine.begin() as conn:
        return await webhooks.emit(conn, account_id, event_type, data)


def sender(
    app: FastAPI, *, later: float = 0.0, resolve: netcheck.Resolver | None = None
) -> WebhookSender:
    """A sender whose clock runs ``later`` seconds ahead (past retry delays without waiting)."""
    return WebhookSender(
        app.state.engine,
        clock=lambda: utcnow() + dt.timedelta(seconds=later),
        resolve=resolve or netcheck.system_resolve,
    )


async def deliver(app: FastAPI, *, later: float = 0.0, **kwargs: Any) -> int:
    """Attempt every event due (by a clock ``later`` seconds ahead) once; how many."""
    return await asyncio.wait_for(sender(app, later=later, **kwargs).drain(), DRAIN_TIMEOUT)


def stub_resolver(*addresses: str) -> netcheck.Resolver:
    """A resolver that answers ``addresses`` for every name, without any DNS."""

    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve
