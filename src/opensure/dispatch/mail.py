"""Mail transports: Maildir (the embedded default), SMTP, SMTPS and SMTP with STARTTLS.

``OPENSURE_MAIL_URL`` picks one:
``maildir:PATH``, ``smtp://[user:pass@]host:port[?starttls=true]``, ``smtps://…``.
Extra query parameters: ``verify=false`` (accept any certificate), ``cafile=PATH``,
``timeout=SECONDS``.

A transport opens sessions; one session sends many messages over one connection. Every send
ends in one of three outcomes: delivered, rejected for good (5xx), or failed for now (4xx,
refused or dropped connection) — the dispatcher records the first two and retries the third.
"""

from __future__ import annotations

import asyncio
import mailbox
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from aiosmtplib import SMTPStatus
from aiosmtplib.email import quote_address


class TemporaryFailure(Exception):
    """Try again later: 4xx, or the connection failed."""


class PermanentFailure(Exception):
    """The server rejected the message for good (5xx); ``str(exc)`` is its reply."""


class ConnectionLost(TemporaryFailure):
    """The connection broke (or the server hung up) while sending."""


class NotReady(Exception):
    """What had to happen before this email may be accepted (``ready``) failed: the email was
    not transmitted; the cause is the exception's ``__cause__``."""


class Message(Protocol):
    def as_bytes(self) -> bytes: ...


class Session(Protocol):
    async def send(
        self,
        message: Message,
        sender: str,
        recipient: str,
        ready: asyncio.Future[None] | None = None,
    ) -> None:
        """Send one email. ``ready``, when given, is waited for before the message is handed
        over (NotReady if it failed, and nothing is delivered); an SMTP session sends the
        envelope (MAIL, RCPT), DATA and the content first and holds back only the final dot,
        so those round trips overlap the wait."""


class MaildirTransport:
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._box: mailbox.Maildir | None = None

    def _open(self) -> mailbox.Maildir:
        if self._box is None:
            self._box = mailbox.Maildir(self.path, create=True)
        return self._box

    @asynccontextmanager
    async def session(self) -> AsyncIterator[MaildirSession]:
        yield MaildirSession(self._open())


class MaildirSession:
    def __init__(self, box: mailbox.Maildir) -> None:
        self.box = box

    async def send(
        self,
        message: Message,
        sender: str,
        recipient: str,
        ready: asyncio.Future[None] | None = None,
    ) -> None:
        await _wait_ready(ready)
        # As a delivering server does: the envelope sender, for bounces, as Return-Path.
        path = parseaddr(sender)[1] or sender
        raw = b"Return-Path: <" + path.encode() + b">\r\n" + message.as_bytes()
        try:
            await asyncio.to_thread(self.box.add, raw)
        except OSError as exc:
            raise TemporaryFailure(f"cannot write to the Maildir: {exc}") from exc


@dataclass
class SmtpTransport:
    hostname: str
    port: int
    use_tls: bool = False
    start_tls: bool = False
    username: str | None = None
    password: str | None = None
    verify: bool = True
    cafile: str | None = None
    timeout: float = 30.0

    def _client(self) -> _Client:
        context: ssl.SSLContext | None = None
        if self.use_tls or self.start_tls:
            context = ssl.create_default_context(cafile=self.cafile)
            if not self.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        return _Client(
            hostname=self.hostname,
            port=self.port,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            username=self.username,
            password=self.password,
            tls_context=context,
            timeout=self.timeout,
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SmtpSession]:
        session = SmtpSession(self)
        try:
            yield session
        finally:
            await session.close()


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client with ``transmit``: one message whose final dot waits for ``ready``."""

    async def transmit(
        self,
        sender: str,
        recipient: str,
        message: bytes,
        ready: asyncio.Future[None] | None = None,
    ) -> None:
        """Send one message to one recipient (MAIL, RCPT, DATA), completing it only once
        ``ready`` is done: the envelope, DATA and the content go out meanwhile, and the final
        dot waits. A message without its final dot is not delivered (RFC 5321 §4.1.1.4): when
        ``ready`` fails, or the process dies while waiting, the connection closes and the server
        discards it.

        Raises as ``sendmail()`` does (SMTPSenderRefused, SMTPRecipientsRefused, SMTPDataError,
        SMTPNotSupported, ValueError for an address that cannot go on a command line), but
        costs less a message: the content is made ready for DATA once (``data_content``), and
        a plain address is not parsed again for every command."""
        utf8 = not (sender + recipient).isascii()
        encoding = "utf-8" if utf8 else "ascii"
        mail_from = _mailbox(sender).encode(encoding)
        rcpt_to = _mailbox(recipient).encode(encoding)
        content = data_content(message)
        if self.is_ehlo_or_helo_needed:
            await self._hello()
        if utf8 and not self.supports_extension("smtputf8"):
            raise aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported by this server")
        options = []
        if self.supports_extension("size"):
            options.append(b"SIZE=%d" % len(content))  # RFC 1870: as DATA carries it
        if utf8:
            options.append(b"SMTPUTF8")
        response = await self.execute_command(b"MAIL", b"FROM:" + mail_from, *options)
        if response.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)
        response = await self.execute_command(b"RCPT", b"TO:" + rcpt_to)
        if response.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            refused = aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)
            raise aiosmtplib.SMTPRecipientsRefused([refused])
        await self._data(content, ready)

    async def _hello(self) -> None:
        # EHLO, or HELO for a server that does not know EHLO (as sendmail() does).
        try:
            await self.ehlo()
        except aiosmtplib.SMTPHeloError:
            if not self.is_connected:
                raise
            await self.helo()

    async def _data(self, content: bytes, ready: asyncio.Future[None] | None) -> None:
        if self.protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        start = await self.execute_command(b"DATA")
        if start.code != SMTPStatus.start_input:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        protocol = self.protocol
        # Content and dot go in one write (one segment, one wake-up of the server) unless the
        # dot has to wait.
        held = ready is not None and not ready.done()
        try:
            if held:
                protocol.write(content)
            try:
                await _wait_ready(ready)
            except NotReady:
                self.close()  # mid-message: closing the connection is how it is abandoned
                raise
            protocol.write(b".\r\n" if held else content + b".\r\n")
            # No await between the write and this call: the reply cannot arrive unawaited.
            response = await protocol.read_response(timeout=self.timeout)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
            self.close()
            raise
        if response.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPDataError(response.code, response.message)


# An address made only of these characters is its own SMTP path: aiosmtplib's quote_address
# gives "<address>" for every one (checked in tests/dispatch/test_smtp_session.py). Anything
# else (a display name, quotes, non-ASCII) goes through quote_address itself.
_PLAIN_MAILBOX = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


def _mailbox(address: str) -> str:
    """The address as MAIL FROM and RCPT TO carry it: ``<local@domain>``."""
    if _PLAIN_MAILBOX.fullmatch(address):
        return f"<{address}>"
    return quote_address(address)


_LINE_ENDINGS = re.compile(rb"\r\n|\r|\n")


def data_content(message: bytes) -> bytes:
    """A message as DATA carries it, without the final dot: every line ending CRLF (lone CR
    and LF become CRLF, as aiosmtplib does) and a line starting with a dot given another
    one (RFC 5321 §4.5.2). The composer's messages end every line with CRLF already: that is
    checked by counting, which costs far less than rewriting every line ending."""
    crlf = message.count(b"\r\n")
    if crlf != message.count(b"\n") or crlf != message.count(b"\r"):
        message = _LINE_ENDINGS.sub(b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    if message.startswith(b"."):
        message = b"." + message
    return message.replace(b"\r\n.", b"\r\n..")


async def _wait_ready(ready: asyncio.Future[None] | None) -> None:
    if ready is None:
        return
    try:
        if not ready.done():
            await asyncio.shield(ready)  # shared with other senders: not to be cancelled
        ready.result()
    except asyncio.CancelledError:
        if not ready.cancelled():
            raise  # this send is being cancelled, not what it waited for
        raise NotReady("not sent: cancelled") from None
    except Exception as exc:
        raise NotReady(f"not sent: {exc!r}") from exc


class SmtpSession:
    """One SMTP connection, opened on first use and reopened after it breaks."""

    def __init__(self, transport: SmtpTransport) -> None:
        self.transport = transport
        self.client: _Client | None = None

    async def _connected(self) -> _Client:
        if self.client is not None and self.client.is_connected:
            return self.client
        client = self.transport._client()
        try:
            await client.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise TemporaryFailure(f"SMTP login failed: {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryFailure(f"cannot connect to the SMTP server: {exc}") from exc
        self.client = client
        return client

    async def send(
        self,
        message: Message,
        sender: str,
        recipient: str,
        ready: asyncio.Future[None] | None = None,
    ) -> None:
        reused = self.client is not None and self.client.is_connected
        try:
            await self._send(message, sender, recipient, ready)
        except ConnectionLost:
            if not reused:
                raise
            # Servers hang up between messages (a limit per connection, an idle timeout) and
            # that is only noticed on the next use: try once more on a fresh connection.
            await self._send(message, sender, recipient, ready)

    async def _send(
        self,
        message: Message,
        sender: str,
        recipient: str,
        ready: asyncio.Future[None] | None,
    ) -> None:
        client = await self._connected()
        try:
            # A non-ASCII address needs SMTPUTF8; without it, transmit() refuses before MAIL.
            await client.transmit(sender, recipient, message.as_bytes(), ready)
        except NotReady:
            await self._reset()  # the envelope is open: close it
            raise
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            code = refused.code if refused else 550
            text = f"{code} {refused.message}" if refused else str(exc)
            await self._reset()
            raise (PermanentFailure if code >= 500 else TemporaryFailure)(text) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            # Raised before any command of this message was sent, e.g. a non-ASCII mailbox for
            # a server without SMTPUTF8: the same server will refuse it on every retry.
            raise PermanentFailure(str(exc)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset()
            text = f"{exc.code} {exc.message}"
            raise (PermanentFailure if exc.code >= 500 else TemporaryFailure)(text) from exc
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
            await self._drop()
            raise ConnectionLost(f"SMTP connection failed: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self._drop()
            raise TemporaryFailure(f"SMTP connection failed: {exc}") from exc

    async def _reset(self) -> None:
        # After a rejection the server may still be mid-transaction; start clean or reconnect.
        if self.client is None:
            return
        try:
            await self.client.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            await self._drop()

    async def _drop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None or not client.is_connected:
            return
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()


Transport = MaildirTransport | SmtpTransport


def transport_from_url(url: str) -> Transport:
    if url.startswith("maildir:"):
        path = url.removeprefix("maildir:").removeprefix("//")
        if not path:
            raise ValueError("maildir: needs a path, e.g. maildir:./outbox")
        return MaildirTransport(path)
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"unsupported mail URL {url!r}: use maildir:PATH, smtp:// or smtps://")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    truthy = ("1", "true", "yes", "on")
    use_tls = parts.scheme == "smtps"
    return SmtpTransport(
        hostname=parts.hostname or "localhost",
        port=parts.port or (465 if use_tls else 25),
        use_tls=use_tls,
        start_tls=not use_tls and query.get("starttls", "").lower() in truthy,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        verify=query.get("verify", "true").lower() in truthy,
        cafile=query.get("cafile"),
        timeout=float(query.get("timeout", 30)),
    )
