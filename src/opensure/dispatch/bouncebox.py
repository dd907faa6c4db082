"""The bounce mailbox the dispatcher reads (OPENSURE_BOUNCE_MAILBOX): a Maildir (the embedded
shape: the local MTA delivers ``bounces+…@`` there) or an IMAP folder over TLS (production:
``imaps://``, or ``imap://`` with STARTTLS required).

Every message is parsed (``bounces.parse``), its reports applied in one transaction, and only
then moved out of the way: a Maildir message from ``new/`` to ``cur/`` with the Seen flag; an
IMAP message flagged ``\\Seen \\Deleted`` and expunged. A crash between the two reads the
message again next time, which changes nothing (``repository.record_bounce`` takes only the
first failure of a request).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import imaplib
import logging
import os
import ssl
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy.ext.asyncio import AsyncEngine

from opensure.config import Settings
from opensure.core.clock import utcnow
from opensure.dispatch import bounces

log = logging.getLogger("opensure.dispatch.bounces")

BATCH = 100  # messages read per pass


class Mailbox(Protocol):
    def fetch(self, limit: int) -> list[tuple[str, bytes]]:
        """Up to ``limit`` unprocessed messages as (key, raw bytes). Blocking (run in a thread)."""

    def done(self, keys: Sequence[str]) -> None:
        """Move processed messages out, so that none is read twice. Blocking."""


class MaildirBox:
    """Messages are read from ``new/`` and moved to ``cur/`` with the Seen flag once handled,
    as a mail reader does (the Maildir specification)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def _ensure(self) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    def fetch(self, limit: int) -> list[tuple[str, bytes]]:
        self._ensure()
        out = []
        for name in sorted(os.listdir(self.path / "new"))[:limit]:
            if name.startswith("."):
                continue
            try:
                out.append((name, (self.path / "new" / name).read_bytes()))
            except FileNotFoundError:  # another reader took it
                continue
        return out

    def done(self, keys: Sequence[str]) -> None:
        for name in keys:
            base = name.split(":", 1)[0]
            with suppress(FileNotFoundError):
                os.rename(self.path / "new" / name, self.path / "cur" / f"{base}:2,S")


@dataclass
class ImapBox:
    """An IMAP folder over TLS (``imaps://user:pass@host[:port]/FOLDER``, or ``imap://…`` for
    port 143 with STARTTLS; query ``verify=false`` or ``cafile=PATH`` for a private CA), through
    the standard library's imaplib: one connection per pass, in a thread."""

    host: str
    port: int
    username: str
    password: str
    folder: str = "INBOX"
    verify: bool = True
    cafile: str | None = None
    timeout: float = 30.0
    # imap://: a plain connection upgraded with STARTTLS before anything else is sent (never
    # left in the clear: a server without STARTTLS is an error).
    starttls: bool = False
    _conn: imaplib.IMAP4 | None = field(default=None, repr=False)

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.cafile)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> imaplib.IMAP4:
        conn: imaplib.IMAP4
        if self.starttls:
            conn = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
            try:
                conn.starttls(self._context())
            except BaseException:
                with suppress(OSError):
                    conn.shutdown()
                raise
        else:
            conn = imaplib.IMAP4_SSL(
                self.host, self.port, ssl_context=self._context(), timeout=self.timeout
            )
        try:
            conn.login(self.username, self.password)
            typ, data = conn.select(_quote(self.folder))
            if typ != "OK":
                raise OSError(f"cannot open IMAP folder {self.folder!r}: {data!r}")
        except BaseException:
            with suppress(OSError):
                conn.shutdown()
            raise
        return conn

    def fetch(self, limit: int) -> list[tuple[str, bytes]]:
        self.close()
        self._conn = conn = self._connect()
        try:
            typ, data = conn.uid("SEARCH", "UNDELETED")
            if typ != "OK":
                raise OSError(f"IMAP SEARCH failed: {data!r}")
            uids = [u.decode() for u in (data[0] or b"").split()[:limit]]
            out = []
            for uid in uids:
                typ, parts = conn.uid("FETCH", uid, "(BODY.PEEK[])")
                raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
                if typ == "OK" and isinstance(raw, bytes):
                    out.append((uid, raw))
        except BaseException:
            self.close()
            raise
        if not out:
            self.close()
        return out

    def done(self, keys: Sequence[str]) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            if keys:
                conn.uid("STORE", ",".join(keys), "+FLAGS.SILENT", r"(\Seen \Deleted)")
                conn.expunge()
        finally:
            self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                conn.logout()


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mailbox_from_url(url: str) -> MaildirBox | ImapBox:
    if url.startswith("maildir:"):
        path = url.removeprefix("maildir:").removeprefix("//")
        if not path:
            raise ValueError("maildir: needs a path, e.g. maildir:./bounces")
        return MaildirBox(path)
    parts = urlsplit(url)
    if parts.scheme not in ("imaps", "imap"):
        raise ValueError(
            f"unsupported bounce mailbox {url!r}: use maildir:PATH or imaps://user:pass@host/FOLDER"
        )
    starttls = parts.scheme == "imap"
    if not parts.hostname or parts.username is None or parts.password is None:
        raise ValueError("an imaps:// bounce mailbox needs user:pass@host")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return ImapBox(
        host=parts.hostname,
        port=parts.port or (143 if starttls else 993),
        username=unquote(parts.username),
        password=unquote(parts.password),
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
        verify=query.get("verify", "true").lower() in ("1", "true", "yes", "on"),
        cafile=query.get("cafile"),
        timeout=float(query.get("timeout", 30)),
        starttls=starttls,
    )


@dataclass
class ReadStats:
    messages: int = 0
    recorded: int = 0  # requests that took a delivery failure
    unsubscribed: int = 0  # addresses unsubscribed by a complaint (a feedback report)


class BounceReader:
    """Reads the bounce mailbox every ``interval`` seconds beside the dispatcher."""

    def __init__(
        self,
        engine: AsyncEngine,
        box: Mailbox,
        *,
        interval: float = 60.0,
        clock: Callable[[], dt.datetime] = utcnow,
        on_failed: bounces.OnFailed | None = None,
        on_complaint: bounces.OnComplaint | None = None,
    ) -> None:
        self.engine = engine
        self.box = box
        self.interval = interval
        self.clock = clock
        self.on_failed = on_failed
        self.on_complaint = on_complaint

    async def read_once(self) -> ReadStats:
        """Handle everything waiting in the mailbox now."""
        stats = ReadStats()
        while True:
            messages = await asyncio.to_thread(self.box.fetch, BATCH)
            if not messages:
                return stats
            handled = []
            try:
                for key, raw in messages:
                    done = await self._handle(raw)
                    stats.recorded += done.recorded
                    stats.unsubscribed += done.unsubscribed
                    stats.messages += 1
                    handled.append(key)
            finally:
                await asyncio.to_thread(self.box.done, handled)
            if len(messages) < BATCH:
                return stats

    async def _handle(self, raw: bytes) -> bounces.Handled:
        reports = bounces.parse(raw)
        if not reports:
            log.info("bounce mailbox: a message that reports no delivery failure, moved aside")
            return bounces.Handled()
        async with self.engine.begin() as conn:
            return await bounces.handle(
                conn,
                reports,
                self.clock(),
                on_failed=self.on_failed,
                on_complaint=self.on_complaint,
            )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                stats = await self.read_once()
                if stats.messages:
                    log.info(
                        "bounce mailbox: %d messages, %d delivery failures recorded,"
                        " %d addresses unsubscribed by complaints",
                        stats.messages,
                        stats.recorded,
                        stats.unsubscribed,
                    )
            except Exception:  # the mailbox or the database away: next interval
                log.warning("reading the bounce mailbox failed", exc_info=True)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)


def reader_for(
    engine: AsyncEngine,
    settings: Settings,
    on_failed: bounces.OnFailed | None = None,
    on_complaint: bounces.OnComplaint | None = None,
) -> BounceReader | None:
    """The reader of OPENSURE_BOUNCE_MAILBOX, None when it is not set (ValueError if it is
    malformed)."""
    if not settings.bounce_mailbox:
        return None
    box = mailbox_from_url(settings.bounce_mailbox)
    return BounceReader(
        engine,
        box,
        interval=settings.bounce_poll_seconds,
        on_failed=on_failed,
        on_complaint=on_complaint,
    )
