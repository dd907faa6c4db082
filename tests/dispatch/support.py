"""Helpers shared by the dispatch and feedback-response tests: a real SMTP server, requests due
now, running the dispatcher, reading the emails it sent and answering the survey they link to."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import re
import secrets
import socket
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from html import unescape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from aiosmtpd.controller import Controller
from fastapi import FastAPI

from opensure.config import Settings
from opensure.core.clock import utcnow
from opensure.dispatch.worker import Dispatcher
from tests.conftest import BASE, Account


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso(**delta: float) -> str:
    return iso(dt.datetime.now(dt.UTC) + dt.timedelta(**delta))


def address(label: str = "kate") -> str:
    """An address no other test uses (the database is shared by the whole run)."""
    return f"{label}-{secrets.token_hex(5)}@example.com"


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


@dataclass
class Received:
    sender: str
    recipients: list[str]
    peer: Any
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return parse(self.raw)


class SmtpServer:
    """aiosmtpd on 127.0.0.1. Accepts everything unless a reply is scripted for an address:
    ``reply_mail(sender, "452 ...")``, ``reply_rcpt(addr, "451 ...")`` and
    ``reply_data(addr, "550 ...")`` answer the next MAIL FROM (that sender), RCPT TO or DATA
    (that recipient) with the given replies, in order, then 250 again."""

    def __init__(self, *, smtputf8: bool = False, messages_per_connection: int = 0) -> None:
        self.port = free_port()
        # Like servers that limit messages per connection: hang up after this many (0: never).
        self.messages_per_connection = messages_per_connection
        self._per_peer: dict[Any, int] = {}
        self.accepted: list[Received] = []
        self.rejected_data: list[Received] = []  # messages transmitted but answered non-250
        self.rcpt_seen: list[str] = []
        self.mail_seen: list[tuple[str, list[str]]] = []  # MAIL FROM: address and options
        self._mail: dict[str, list[str]] = {}
        self._rcpt: dict[str, list[str]] = {}
        self._data: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=smtputf8
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?timeout=5"

    def reply_mail(self, addr: str, *replies: str) -> None:
        self._mail.setdefault(addr.lower(), []).extend(replies)

    def reply_rcpt(self, addr: str, *replies: str) -> None:
        self._rcpt.setdefault(addr.lower(), []).extend(replies)

    def reply_data(self, addr: str, *replies: str) -> None:
        self._data.setdefault(addr.lower(), []).extend(replies)

    def to(self, addr: str) -> list[Received]:
        """Accepted messages whose envelope names ``addr``."""
        with self._lock:
            return [m for m in self.accepted if addr.lower() in (r.lower() for r in m.recipients)]

    def one_to(self, addr: str) -> EmailMessage:
        got = self.to(addr)
        assert len(got) == 1, f"expected one email to {addr}, got {len(got)}"
        return got[0].message

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, addr: str, mail_options: list[str]
    ) -> str:
        with self._lock:
            self.mail_seen.append((addr, list(mail_options)))
            queued = self._mail.get(addr.lower())
            if queued:
                return queued.pop(0)
        envelope.mail_from = addr
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, addr: str, rcpt_options: list[str]
    ) -> str:
        with self._lock:
            self.rcpt_seen.append(addr)
            queued = self._rcpt.get(addr.lower())
            if queued:
                return queued.pop(0)
        envelope.rcpt_tos.append(addr)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        got = Received(envelope.mail_from, list(envelope.rcpt_tos), session.peer, envelope.content)
        with self._lock:
            for rcpt in envelope.rcpt_tos:
                queued = self._data.get(rcpt.lower())
                if queued:
                    self.rejected_data.append(got)
                    return queued.pop(0)
            self.accepted.append(got)
            count = self._per_peer[session.peer] = self._per_peer.get(session.peer, 0) + 1
        if self.messages_per_connection and count >= self.messages_per_connection:
            # Hang up right after the reply, without waiting for QUIT.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 Message accepted for delivery"

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


RETRY_SECONDS = 60.0
DRAIN_TIMEOUT = 15
AFTER_RETRY_DELAY = RETRY_SECONDS * 1.1 + 1


def settings(mail_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": "sqlite://",  # unused: the dispatcher is given the app's engine
        "mail_url": mail_url,
        "public_url": BASE,
        "mail_from": "feedback@opensure.test",
        # A failed attempt is due again after about RETRY_SECONDS: tests run the dispatcher's
        # clock ahead (``dispatch(later=…)``) rather than wait for it.
        "retry_base_seconds": RETRY_SECONDS,
        "retry_max_seconds": 60,
    }
    values.update(overrides)
    return Settings(**values)


async def dispatch(app: FastAPI, mail_url: str, *, later: float = 0.0, **overrides: Any) -> int:
    """One dispatcher sends everything due now, then stops (a dispatcher that keeps finding
    work, e.g. retrying in a loop, fails the test instead of hanging it). With ``later``, its
    clock runs that many seconds ahead: past a retry's backoff without waiting for it."""
    dispatcher = Dispatcher(
        app.state.engine,
        settings(mail_url, **overrides),
        clock=lambda: utcnow() + dt.timedelta(seconds=later),
    )
    return await asyncio.wait_for(dispatcher.drain(), DRAIN_TIMEOUT)


async def create_request(account: Account, **fields: Any) -> dict[str, Any]:
    """A feedback request due now (unless ``send_at`` is given), through the API."""
    body: dict[str, Any] = {
        "email": address(),
        "send_at": now_iso(),
        "survey_id": account.survey_id,
    }
    body.update(fields)
    r = await account.post("/feedback_requests", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def fetch_request(account: Account, request_id: int) -> dict[str, Any]:
    r = await account.get(f"/feedback_requests/{request_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text/plain and text/html bodies."""
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None, "both a text and an HTML part are expected"
    return plain.get_content(), html.get_content()


def links(text: str) -> list[str]:
    return re.findall(r"https?://[^\s<>\"']+", text)


def is_answer_link(link: str) -> bool:
    """A link of a one-click e-mail's scale: it chooses an answer (``q{id}=…``)."""
    return any(re.fullmatch(r"q[0-9]+", key) for key, _ in parse_qsl(urlsplit(link).query))


def survey_link(message: EmailMessage) -> str:
    """The e-mail's link to the survey (not one of its scale's answer links)."""
    text, _ = parts(message)
    found = [u for u in links(text) if urlsplit(u).path.startswith("/s/") and not is_answer_link(u)]
    assert len(found) == 1, found
    return found[0]


def answer_links(message: EmailMessage) -> tuple[list[str], list[str]]:
    """The scale's answer links of the text part and of the HTML part (hrefs), in order."""
    text, html = parts(message)
    hrefs = [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]
    return [u for u in links(text) if is_answer_link(u)], [h for h in hrefs if is_answer_link(h)]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {"action": a.get("action", ""), "method": a.get("method", ""), "inputs": []}
            )
        elif tag in ("input", "textarea", "select", "button") and self.forms:
            self.forms[-1]["inputs"].append({"tag": tag, **a})


def forms(html: str) -> list[dict[str, Any]]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def hidden_inputs(html: str) -> list[tuple[str, str]]:
    (form,) = forms(html)
    return [
        (i["name"], i.get("value", ""))
        for i in form["inputs"]
        if i["tag"] == "input" and i.get("type") == "hidden"
    ]


async def answer(
    client: httpx.AsyncClient, link: str, answers: dict[int, str | list[str]], **contact: str
) -> httpx.Response:
    """Open the survey page at ``link`` and post the form back with these answers."""
    parts_ = urlsplit(link)
    page = await client.get(parts_.path + (f"?{parts_.query}" if parts_.query else ""))
    assert page.status_code == 200, page.text
    form: list[tuple[str, str]] = list(hidden_inputs(page.text))
    form.extend(contact.items())
    for question_id, value in answers.items():
        for v in [value] if isinstance(value, str) else value:
            form.append((f"q{question_id}", v))
    return await client.post(
        parts_.path,
        content=urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
