"""Helpers for the production-shape tests: an SMTP sink that counts what it accepted, requests
seeded in bulk, ``opensure dispatcher`` processes, and stopping/starting PostgreSQL itself."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg
from aiosmtpd.controller import Controller
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from opensure.accounts import service as admin
from opensure.models import FeedbackRequest
from opensure.surveys import importer
from tests.fixtures.server import MEDIA_TYPE, OPENSURE, SURVEY, cli_env, free_port

fr = FeedbackRequest.__table__
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


# ---- the SMTP sink ----


@dataclass(frozen=True)
class Delivery:
    recipient: str
    message_id: str
    at: float  # time.monotonic() when the sink answered 250


class SmtpSink:
    """aiosmtpd on 127.0.0.1 (in a thread of the test process) accepting everything.

    Records, for every accepted message, its recipient, its Message-ID and when it was
    accepted; ``delay`` seconds are spent on each message before the 250 reply (a slow server).
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.port = free_port()
        self._deliveries: list[Delivery] = []
        self._receiving: set[str] = set()
        self._lock = threading.Lock()
        # A fixed server name: aiosmtpd would otherwise look up the FQDN on every connection.
        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port, server_hostname="sink.localhost"
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?timeout=10"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self._receiving.update(r.lower() for r in envelope.rcpt_tos)
        if self.delay:
            await asyncio.sleep(self.delay)
        head = envelope.original_content.split(b"\r\n\r\n", 1)[0]
        found = _MESSAGE_ID.search(head)
        message_id = found.group(1).decode() if found else ""
        at = time.monotonic()
        with self._lock:
            for rcpt in envelope.rcpt_tos:
                self._deliveries.append(Delivery(rcpt.lower(), message_id, at))
        return "250 Message accepted for delivery"

    def receiving(self, address: str) -> bool:
        """Whether a message to ``address`` has been transmitted (maybe not yet answered)."""
        with self._lock:
            return address.lower() in self._receiving

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def count(self) -> int:
        with self._lock:
            return len(self._deliveries)

    def by_recipient(self) -> dict[str, list[Delivery]]:
        out: dict[str, list[Delivery]] = {}
        for d in self.deliveries():
            out.setdefault(d.recipient, []).append(d)
        return out

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


# ---- accounts and requests, straight into the database ----


@dataclass(frozen=True)
class ApiAccount:
    id: int
    name: str
    token: str
    survey: dict[str, Any]

    @property
    def survey_id(self) -> int:
        return int(self.survey["id"])

    @property
    def headers(self) -> dict[str, str]:
        return {
            "User-Agent": self.name,
            "Accept": MEDIA_TYPE,
            "Authorization": f'Token token="{self.token}"',
        }


async def make_account(engine: AsyncEngine) -> ApiAccount:
    name = f"Acme {secrets.token_hex(4)}"
    async with engine.begin() as conn:
        created = await admin.create_account(conn, name)
        survey = await importer.import_survey(conn, created["id"], SURVEY)
    return ApiAccount(id=created["id"], name=name, token=created["token"], survey=survey)


async def seed_due_requests(engine: AsyncEngine, account: ApiAccount, count: int) -> list[str]:
    """``count`` pending requests due now, one unique address each; their addresses."""
    now = dt.datetime.now(dt.UTC)
    run = secrets.token_hex(3)
    emails = [f"customer-{run}-{i:05d}@example.com" for i in range(count)]
    rows = [
        {
            "account_id": account.id,
            "survey_id": account.survey_id,
            "email": address,
            "first_name": "Kate",
            "state": "pending",
            # Slightly apart, so "oldest first" is a real order.
            "send_at": now - dt.timedelta(seconds=60, microseconds=-i),
            "created_at": now,
            "updated_at": now,
            "token": secrets.token_urlsafe(24),
        }
        for i, address in enumerate(emails)
    ]
    async with engine.begin() as conn:
        for start in range(0, count, 1000):
            await conn.execute(insert(fr), rows[start : start + 1000])
    return emails


async def states(engine: AsyncEngine) -> Counter[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(fr.c.state, func.count()).group_by(fr.c.state))
        return Counter({state: int(n) for state, n in rows})


async def leased_pending(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        stmt = select(func.count()).where(fr.c.state == "pending", fr.c.lease_owner.is_not(None))
        return int((await conn.execute(stmt)).scalar_one())


async def wait_until_all_sent(
    engine: AsyncEngine, total: int, within: float, *, poll: float = 0.25
) -> float:
    """Wait until ``total`` requests are ``sent``; the seconds it took. Fails after ``within``."""
    start = time.monotonic()
    while True:
        counts = await states(engine)
        if counts["sent"] >= total:
            return time.monotonic() - start
        if time.monotonic() - start > within:
            raise AssertionError(f"not all {total} requests were sent in {within} s: {counts}")
        await asyncio.sleep(poll)


# ---- `opensure dispatcher` processes ----


@dataclass
class DispatcherProcess:
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = field(repr=False)
    _signalled: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to record or release anything."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._log.close()

    def sigterm(self) -> None:
        """One SIGTERM (a second one, once its loop has ended, would kill it outright)."""
        if self.process.poll() is None and not self._signalled:
            self._signalled = True
            self.process.send_signal(signal.SIGTERM)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; SIGKILL after ``timeout``. The exit code."""
        if self.process.poll() is None:
            self.sigterm()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process.wait()
        self._log.close()
        return self.process.returncode


def start_dispatcher(
    db_url: str, workdir: Path, mail_url: str, **settings: str | float | int
) -> DispatcherProcess:
    """``opensure dispatcher`` with OPENSURE_<NAME>=value for each keyword setting."""
    env = cli_env(
        db_url,
        OPENSURE_MAIL_URL=mail_url,
        **{f"OPENSURE_{k.upper()}": str(v) for k, v in settings.items()},
    )
    log_path = workdir / f"dispatcher-{secrets.token_hex(4)}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [OPENSURE, "dispatcher"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=workdir,
    )
    return DispatcherProcess(process, log_path, log)


async def wait_started(dispatchers: Sequence[DispatcherProcess], within: float = 60) -> None:
    """Until every dispatcher has migrated, connected and entered its loop."""
    deadline = time.monotonic() + within
    for d in dispatchers:
        while " started" not in d.log():
            if d.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"dispatcher {d.pid} did not start:\n{d.log()[-3000:]}")
            await asyncio.sleep(0.05)


def stop_all(dispatchers: Sequence[DispatcherProcess]) -> list[int]:
    """SIGTERM to all at once, then wait for each; their exit codes."""
    for d in dispatchers:
        d.sigterm()
    return [d.terminate() for d in dispatchers]


def describe(dispatchers: Sequence[DispatcherProcess], lines: int = 30) -> str:
    """The end of each dispatcher's log, without the one line per email sent."""
    parts = []
    for d in dispatchers:
        kept = [line for line in d.log().splitlines() if " sent: " not in line]
        parts.append(f"--- dispatcher {d.pid} (exit {d.process.returncode}) ---")
        parts.extend(kept[-lines:])
    return "\n".join(parts)


# ---- stopping and starting PostgreSQL ----

STOP_ENV = "OPENSURE_TEST_POSTGRES_STOP"
START_ENV = "OPENSURE_TEST_POSTGRES_START"


@dataclass(frozen=True)
class PostgresControl:
    stop_command: list[str]
    start_command: list[str]
    admin_dsn: str

    def stop(self) -> None:
        subprocess.run(self.stop_command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        subprocess.run(self.start_command, check=True, capture_output=True, timeout=60)

    async def is_up(self) -> bool:
        try:
            conn = await asyncpg.connect(self.admin_dsn, timeout=2)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await conn.close()
        return True

    async def ensure_running(self, within: float = 60.0) -> None:
        """Start the server if it is down and wait until it takes connections."""
        deadline = time.monotonic() + within
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            if not await self.is_up():
                await asyncio.to_thread(self.start)
        while not await self.is_up():
            if time.monotonic() > deadline:
                raise AssertionError("PostgreSQL did not come back up")
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                await asyncio.to_thread(self.start)
            await asyncio.sleep(0.5)


def postgres_control(admin_url: str) -> PostgresControl | None:
    """How to stop and start the PostgreSQL server at ``admin_url``: the commands in
    OPENSURE_TEST_POSTGRES_STOP / _START, else pg_ctlcluster for a local Debian cluster we
    may control; None when neither is available."""
    url = make_url(admin_url)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    stop, start = os.environ.get(STOP_ENV), os.environ.get(START_ENV)
    if stop and start:
        return PostgresControl(shlex.split(stop), shlex.split(start), dsn)
    if url.host not in (None, "", "127.0.0.1", "localhost", "::1"):
        return None
    if shutil.which("pg_ctlcluster") is None or shutil.which("pg_lsclusters") is None:
        return None
    try:
        listing = subprocess.run(
            ["pg_lsclusters", "--no-header"], check=True, capture_output=True, text=True
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    port = url.port or 5432
    for line in listing.splitlines():
        cols = line.split()
        if len(cols) < 5 or cols[2] != str(port):
            continue
        version, cluster, owner = cols[0], cols[1], cols[4]
        if os.geteuid() != 0 and owner != os.environ.get("USER"):
            return None
        base = ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster]
        return PostgresControl([*base, "stop"], [*base, "start"], dsn)
    return None
