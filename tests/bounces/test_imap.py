"""The bounce mailbox over IMAP with STARTTLS, and over ``imaps://`` (implicit TLS, through a
TLS front), against a real IMAP server started by the test on 127.0.0.1: pymap (PyPI; its
in-memory backend with demo data), with a certificate made here. A DSN appended to the folder
sets delivery_failure; every handled message, bounce or not, is flagged deleted and expunged,
so none is read twice."""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import ipaddress
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from opensure.dispatch.bouncebox import BounceReader, mailbox_from_url
from tests.bounces.samples import dsn, sent_to
from tests.conftest import Account
from tests.dispatch.support import (
    address,
    create_request,
    dispatch,
    fetch_request,
    free_port,
    parse,
)

BOUNCES = "bounces@bounce.opensure.test"
PASSWORD = "bounce-pass-123"


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "imap.crt", directory / "imap.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class ImapServer:
    port: int
    cafile: Path

    def url(self) -> str:
        return f"imap://demouser:{PASSWORD}@127.0.0.1:{self.port}/INBOX?cafile={self.cafile}"

    def client(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        conn.starttls(ssl.create_default_context(cafile=str(self.cafile)))
        conn.login("demouser", PASSWORD)
        return conn

    def append(self, raw: bytes) -> None:
        conn = self.client()
        try:
            typ, data = conn.append("INBOX", None, None, raw)
            assert typ == "OK", data
        finally:
            conn.logout()

    def count(self) -> int:
        conn = self.client()
        try:
            typ, data = conn.select("INBOX")
            assert typ == "OK", data
            return int(data[0] or 0)
        finally:
            conn.logout()


@contextlib.contextmanager
def pymap(port: int, *tls: str) -> Iterator[None]:
    """pymap on 127.0.0.1:``port`` with its in-memory backend and demo data (a user, an INBOX
    of four ordinary messages); ``tls``: its certificate options, or ``--no-tls``."""
    executable = shutil.which("pymap", path=str(Path(sys.executable).parent))
    assert executable, "pymap (the dev extra) is not installed"
    options = ["--host", "127.0.0.1", "--port", str(port), *tls]
    options += ["--no-service", "admin", "--no-service", "managesieve"]
    backend = ["dict", "--demo-data", "--demo-password", PASSWORD]
    process = subprocess.Popen(
        [executable, *options, *backend], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    stderr = process.stderr.read() if process.stderr else b""
                    raise AssertionError(stderr) from None
                time.sleep(0.1)
        yield
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def imap(tmp_path: Path) -> Iterator[ImapServer]:
    cert, key = _certificate(tmp_path)
    port = free_port()
    with pymap(port, "--cert", str(cert), "--key", str(key)):
        yield ImapServer(port, cert)


async def test_a_dsn_in_the_imap_folder_sets_delivery_failure(
    app: FastAPI, account: Account, tmp_path: Path, imap: ImapServer
) -> None:
    to = address("imap")
    created = await create_request(account, email=to)
    await dispatch(app, f"maildir:{tmp_path / 'out'}", bounce_address=BOUNCES)
    raw = sent_to(tmp_path / "out", to)
    return_path = str(parse(raw)["Return-Path"]).strip("<>")
    imap.append(dsn(to=return_path, recipient=to, original=raw))
    assert imap.count() == 5  # four demo messages and the bounce

    reader = BounceReader(app.state.engine, mailbox_from_url(imap.url()))
    stats = await reader.read_once()
    assert (stats.messages, stats.recorded) == (5, 1)
    after = await fetch_request(account, created["id"])
    assert after["state"] == "sent"
    assert after["delivery_failure"].startswith("bounced: 5.1.1")
    # Everything handled was expunged: the next pass reads nothing.
    assert imap.count() == 0
    assert (await reader.read_once()).messages == 0


async def test_a_wrong_password_or_certificate_fails_the_pass(
    app: FastAPI, imap: ImapServer
) -> None:
    wrong = imap.url().replace(PASSWORD, "nope")
    with pytest.raises(imaplib.IMAP4.error):
        await BounceReader(app.state.engine, mailbox_from_url(wrong)).read_once()
    untrusted = imap.url().split("?", 1)[0]  # the server's certificate is not in the system CAs
    with pytest.raises(ssl.SSLError):
        await BounceReader(app.state.engine, mailbox_from_url(untrusted)).read_once()
    assert imap.count() == 4  # nothing was taken


class TlsFront:
    """A TLS-terminating front on 127.0.0.1 (as stunnel or a load balancer puts before an IMAP
    server): implicit TLS from the first byte, the plain stream passed to ``upstream``. Its own
    event loop in a thread, so the reader's blocking imaplib can talk to it."""

    def __init__(self, cert: Path, key: Path, upstream: int) -> None:
        import asyncio
        import threading

        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.upstream = upstream
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.started.wait(10)

    def _run(self) -> None:
        import asyncio

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                writer.close()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        async def serve() -> None:
            server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=self.context)
            self.port = server.sockets[0].getsockname()[1]
            self.server = server
            self.started.set()

        self.loop.run_until_complete(serve())
        self.loop.run_forever()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@dataclass
class ImapsServer:
    port: int  # the TLS front's
    plain_port: int  # pymap's own, in the clear (for the test to append with)
    cafile: Path


@pytest.fixture
def imaps(tmp_path: Path) -> Iterator[ImapsServer]:
    """pymap in the clear (``--no-tls``) behind a TLS front: an ``imaps://`` server."""
    cert, key = _certificate(tmp_path)
    port = free_port()
    with pymap(port, "--no-tls"):
        front = TlsFront(cert, key, port)
        try:
            yield ImapsServer(front.port, port, cert)
        finally:
            front.close()


async def test_an_imaps_mailbox_reads_bounces_over_implicit_tls(
    app: FastAPI, account: Account, tmp_path: Path, imaps: ImapsServer
) -> None:
    """``imaps://``: TLS from the first byte (port 993's way), not STARTTLS. pymap serves the
    folder in the clear behind a TLS front with a certificate made here."""
    to = address("imaps")
    created = await create_request(account, email=to)
    await dispatch(app, f"maildir:{tmp_path / 'out'}", bounce_address=BOUNCES)
    raw = sent_to(tmp_path / "out", to)
    return_path = str(parse(raw)["Return-Path"]).strip("<>")
    plain = imaplib.IMAP4("127.0.0.1", imaps.plain_port, timeout=10)
    plain.login("demouser", PASSWORD)
    assert plain.append("INBOX", None, None, dsn(to=return_path, recipient=to, original=raw))[0]
    plain.logout()

    url = f"imaps://demouser:{PASSWORD}@127.0.0.1:{imaps.port}/INBOX"
    # The front's certificate is not in the system's CAs: refused before any login.
    with pytest.raises(ssl.SSLError):
        await BounceReader(app.state.engine, mailbox_from_url(url)).read_once()
    reader = BounceReader(app.state.engine, mailbox_from_url(f"{url}?cafile={imaps.cafile}"))
    stats = await reader.read_once()
    assert (stats.messages, stats.recorded) == (5, 1)
    after = await fetch_request(account, created["id"])
    assert after["delivery_failure"].startswith("bounced: 5.1.1")
