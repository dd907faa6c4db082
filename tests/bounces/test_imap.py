"""The bounce mailbox over IMAP with STARTTLS, against a real IMAP server started by the test
on 127.0.0.1: pymap (PyPI; its in-memory backend with demo data), with a certificate made here.
A DSN appended to the folder sets delivery_failure; every handled message, bounce or not, is
flagged deleted and expunged, so none is read twice."""

from __future__ import annotations

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


@pytest.fixture
def imap(tmp_path: Path) -> Iterator[ImapServer]:
    executable = shutil.which("pymap", path=str(Path(sys.executable).parent))
    assert executable, "pymap (the dev extra) is not installed"
    cert, key = _certificate(tmp_path)
    port = free_port()
    # The in-memory backend with its demo data (a user, an INBOX of four ordinary messages).
    options = ["--host", "127.0.0.1", "--port", str(port), "--cert", str(cert), "--key", str(key)]
    options += ["--no-service", "admin", "--no-service", "managesieve"]
    backend = ["dict", "--demo-data", "--demo-password", PASSWORD]
    process = subprocess.Popen(
        [executable, *options, *backend],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
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
        yield ImapServer(port, cert)
    finally:
        process.terminate()
        process.wait(10)


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
