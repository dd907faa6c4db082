"""Soak: the production shape on PostgreSQL under a moderate mixed load, for minutes.

    .venv/bin/python -m bench.soak [--duration 300] [--rate 80] [--write]

A fresh database (dropped afterwards) on the server of --postgres-url (default: the environment
variable OPENSURE_BENCH_POSTGRES_URL); `opensure migrate`, an account and a survey made through
the CLI; 2 `opensure serve --no-dispatcher` processes (each its own port, as behind a load
balancer) and 2 `opensure dispatcher` processes; an SMTP sink (aiosmtpd, its own process) that
accepts every message, discards it and notes its Message-ID and survey link.

For --duration seconds this process drives a steady, bounded load with httpx (--rate operations
a second, at most --concurrency in flight, alternating between the API processes; the default
80 a second keeps about half of a quiet 2-core machine busy, counting OpenSure, PostgreSQL, the
sink and this client; operations more than a second late are skipped, not made up in a burst):
creates due now (the dispatchers send them) and in a week, GET by id, list pages, PATCH and
DELETE of pending requests, retries with the same Idempotency-Key, survey answers through the
emailed links (the survey page, then its form POST), anonymous answers, /nps and /response_rate.

Then it waits for the dispatchers to drain and checks: no unexpected status and no transport
error; every due request sent exactly once (database, sink, API totals, dispatcher metrics); API
metrics consistent with what was answered; no 5xx in the servers' own metrics and no error or
traceback in their logs; every process stops cleanly on SIGTERM; and the resident memory of
each OpenSure process, sampled every few seconds, flat after the warm-up (see FLAT_*). Prints a
markdown report; --write puts it into docs/benchmarks.md between the soak markers. Exits 1 when
a check fails.

--tracemalloc FRAMES is for hunting a leak: the OpenSure processes trace their allocations from
just before the load, snapshot at the warm-up and at the end, and the report lists the sites that
grew most in between (tracing slows them several times over, so the figures mean little then).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx

from bench.harness import (
    MIB,
    OPENSURE,
    PG_ADMIN,
    ROOT,
    Sink,
    api_headers,
    cli,
    cpu_seconds,
    create_account,
    create_database,
    drop_database,
    free_port,
    iso,
    machine_cpu,
    opensure_env,
    rss_bytes,
    snapshot_diff,
    wait_port,
    write_marked,
)

T = TypeVar("T")
DOC = ROOT / "docs" / "benchmarks.md"
HEADING = "## Soak (issue: hardening)"
START, END = "<!-- soak:start -->", "<!-- soak:end -->"
# A process's memory is "flat" when its RSS grew from the end of the warm-up to the end of the load
# by less than FLAT_SHARE of the warm-up figure and less than FLAT_MIB.
FLAT_SHARE = 0.10
FLAT_MIB = 15
SURVEY = {
    "name": "Soak",
    "questions": [
        {"type": "rating", "text": "How likely are you to recommend us?", "nps": True},
        {"type": "rating", "text": "How satisfied were you?", "scale": [1, 5]},
        {"type": "radio", "text": "Was your issue solved?", "options": ["Yes", "No"]},
        {"type": "dropdown", "text": "Which product?", "options": ["App", "Web"]},
        {
            "type": "checkbox",
            "text": "What did you like?",
            "options": ["Speed", "Friendliness", "Price"],
            "required": False,
        },
        {"type": "text", "text": "Anything else?", "required": False},
    ],
}
# Operations and their weights; "answer" is two HTTP requests (the page, then the form's POST).
MIX = {
    "get": 36,
    "list_requests": 8,
    "list_responses": 4,
    "create_due": 16,
    "create_later": 6,
    "replay": 2,
    "patch": 8,
    "delete": 4,
    "answer": 8,
    "answer_anonymous": 2,
    "nps": 3,
    "response_rate": 3,
}
EXPECTED: dict[str, int | tuple[int, ...]] = {
    "POST /feedback_requests": 201,
    "POST /feedback_requests (Idempotency-Key replay)": 201,
    "POST /feedback_requests (retry after a failure)": 201,
    "GET /feedback_requests/:id": 200,
    "GET /feedback_requests/:id (deleted)": 404,
    "GET /feedback_requests": 200,
    "GET /feedback_responses": 200,
    "PATCH /feedback_requests/:id": 200,
    "DELETE /feedback_requests/:id": 204,
    # Gone already is fine for a retry: the failed attempt may have been carried out.
    "DELETE /feedback_requests/:id (retry after a failure)": (204, 404),
    "GET /s/:code": 200,
    "POST /s/:code": 303,
    "POST /s/:code (retry after a failure)": 303,
    "GET /nps": 200,
    "GET /response_rate": 200,
}
# Every kind the mix makes; the others (retries) are shown only when they happened.
MIX_KINDS = {kind for kind in EXPECTED if "(retry" not in kind}


def expected(kind: str) -> tuple[int, ...]:
    codes = EXPECTED.get(kind, ())
    return codes if isinstance(codes, tuple) else (codes,)


def status_ok(kind: str, status: str) -> bool:
    """Whether a recorded outcome (a status code, or an exception's name) was expected."""
    return status.isdigit() and int(status) in expected(kind)


FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
MESSAGE_ID = re.compile(r"feedback-request-(\d+)\.")
DUE_PENDING = "SELECT count(*) FROM feedback_requests WHERE state = 'pending' AND send_at <= now()"
SENT = "SELECT count(*) FROM feedback_requests WHERE state = 'sent'"


@dataclass
class Proc:
    name: str
    pid: int
    opensure: bool
    popen: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    metrics_port: int | None = None


@dataclass
class Sample:
    t: float  # seconds since the load started
    rss: dict[str, int | None]
    cpu: dict[str, float | None]
    machine: tuple[float, float]
    postgres: dict[int, float]  # CPU seconds of every PostgreSQL process (any database)


def take_sample(procs: list[Proc], t0: float) -> Sample:
    return Sample(
        t=time.monotonic() - t0,
        rss={p.name: rss_bytes(p.pid) for p in procs},
        cpu={p.name: cpu_seconds(p.pid) for p in procs},
        machine=machine_cpu(),
        postgres=postgres_cpu(),
    )


def postgres_cpu() -> dict[int, float]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        seconds = cpu_seconds(int(entry.name))
        if seconds is not None:
            found[int(entry.name)] = seconds
    return found


def postgres_busy(samples: list[Sample]) -> float:
    """CPU seconds PostgreSQL's processes used between the first and the last sample."""
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    for s in samples:
        for pid, seconds in s.postgres.items():
            first.setdefault(pid, seconds)
            last[pid] = seconds
    return sum(last[pid] - first[pid] for pid in last)


@dataclass
class Load:
    """The load generator's state: what it created, what it may touch, what it saw."""

    apis: list[httpx.AsyncClient]
    pages: list[httpx.AsyncClient]
    survey: dict[str, Any]
    questions: list[tuple[int, dict[str, Any]]]
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    turn: int = 0
    n: int = 0
    due: set[int] = field(default_factory=set)  # sent by the dispatchers, never deleted
    due_list: list[int] = field(default_factory=list)  # the same, to pick from
    later: list[int] = field(default_factory=list)  # pending a week ahead, PATCHed, never deleted
    doomed: deque[int] = field(default_factory=deque)  # pending a week ahead, to be DELETEd
    deleted: list[int] = field(default_factory=list)
    replayable: deque[tuple[str, dict[str, Any], int]] = field(default_factory=deque)
    links: deque[tuple[str, str]] = field(default_factory=deque)  # (code, token) from emails
    answered: set[str] = field(default_factory=set)  # link tokens answered at least once
    anonymous: int = 0
    statuses: Counter[tuple[str, str]] = field(default_factory=Counter)
    wrong_content: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    operations: Counter[str] = field(default_factory=Counter)
    skipped: int = 0  # operations not started because the load fell more than 1 s behind
    window_from: str = ""

    def client(self, pages: bool = False) -> httpx.AsyncClient:
        self.turn += 1
        clients = self.pages if pages else self.apis
        return clients[self.turn % len(clients)]

    async def call(
        self,
        kind: str,
        method: str,
        url: str,
        *,
        pages: bool = False,
        retry: str | None = None,
        **kw: Any,
    ) -> httpx.Response | None:
        """One request, timed and checked against the status expected for its kind; None for
        an unexpected status or a transport error (both counted).

        With ``retry`` (a kind), a transport error or a 503 is followed by up to three more
        tries, after Retry-After (at most 5 s), as a careful client would: what they answer is
        counted under that kind. The failure itself still counts as one."""
        wait = 0.0
        for attempt in range(4 if retry else 1):
            if attempt:
                assert retry is not None
                kind = retry
                await asyncio.sleep(wait)
            t0 = time.perf_counter()
            try:
                r = await self.client(pages).request(method, url, **kw)
            except httpx.HTTPError as exc:
                self.statuses[kind, type(exc).__name__] += 1
                self.note(f"{kind} {url}: {type(exc).__name__} {exc}")
                wait = 1.0
                continue
            self.latencies.setdefault(kind, []).append(time.perf_counter() - t0)
            self.statuses[kind, str(r.status_code)] += 1
            if r.status_code in expected(kind):
                return r
            self.note(f"{kind} {url}: {r.status_code} {r.text[:300]!r}")
            if r.status_code != 503:
                return None
            wait = min(float(r.headers.get("Retry-After") or 1), 5.0)
        return None

    def note(self, problem: str) -> None:
        if len(self.unexpected) < 20:
            self.unexpected.append(problem)

    def wrong(self, kind: str, problem: str) -> None:
        """A response with the expected status but the wrong content."""
        self.wrong_content[kind] += 1
        self.note(f"{kind}: {problem}")

    # --- operations ---

    async def create(self, due: bool) -> None:
        self.n += 1
        now = dt.datetime.now(dt.UTC)
        body = {
            "email": f"customer{self.n}@example.com",
            "send_at": iso(now if due else now + dt.timedelta(days=7)),
            "survey_id": self.survey["id"],
            "first_name": "Kate",
            "surname": "Smith",
            "reference": f"#{self.n}",
            "data": [
                {"key": "order", "value": str(100000 + self.n)},
                {"key": "channel", "value": self.rng.choice(["web", "phone", "shop"])},
            ],
        }
        key = f"soak-{self.n}-{self.rng.getrandbits(32):08x}"
        # A retry with the same key answers with the request made the first time, if it was.
        r = await self.call(
            "POST /feedback_requests",
            "POST",
            "/feedback_requests",
            json=body,
            headers={"Idempotency-Key": key},
            retry="POST /feedback_requests (retry after a failure)",
        )
        if r is None:
            return
        request_id = int(r.json()["id"])
        if due:
            self.due.add(request_id)
            self.due_list.append(request_id)
        elif self.n % 3 == 0:
            self.doomed.append(request_id)
        else:
            self.later.append(request_id)
        self.replayable.append((key, body, request_id))
        if len(self.replayable) > 200:
            self.replayable.popleft()

    async def replay(self) -> None:
        """A client retrying a create it already made: the first answer again, nothing new."""
        if not self.replayable:
            return await self.create(due=True)
        key, body, request_id = self.rng.choice(self.replayable)
        kind = "POST /feedback_requests (Idempotency-Key replay)"
        r = await self.call(
            kind, "POST", "/feedback_requests", json=body, headers={"Idempotency-Key": key}
        )
        if r is not None and (
            r.headers.get("Idempotent-Replayed") != "true" or r.json()["id"] != request_id
        ):
            self.wrong(kind, f"key {key}: {r.headers.get('Idempotent-Replayed')} {r.text[:200]}")

    async def get(self) -> None:
        pool = self.later if self.rng.random() < 0.3 or not self.due_list else self.due_list
        if not pool:
            return await self.create(due=True)
        request_id = self.rng.choice(pool)
        kind = "GET /feedback_requests/:id"
        r = await self.call(kind, "GET", f"/feedback_requests/{request_id}")
        if r is not None and r.json()["id"] != request_id:
            self.wrong(kind, f"asked for {request_id}, got {r.text[:200]}")

    async def list_requests(self) -> None:
        total = len(self.due) + len(self.later) + len(self.doomed)
        params: dict[str, Any] = {"per_page": 100, "page": self.rng.randint(1, total // 100 + 1)}
        if self.rng.random() < 0.3:
            params["states[]"] = self.rng.choice(["sent", "pending"])
        await self.call("GET /feedback_requests", "GET", "/feedback_requests", params=params)

    async def list_responses(self) -> None:
        params = {"per_page": 30, "page": self.rng.randint(1, 3)}
        await self.call("GET /feedback_responses", "GET", "/feedback_responses", params=params)

    async def patch(self) -> None:
        if not self.later:
            return await self.create(due=False)
        request_id = self.rng.choice(self.later)
        body: dict[str, Any] = {"first_name": self.rng.choice(["Kate", "Sam", "Ola"])}
        if self.rng.random() < 0.5:
            body["reference"] = f"#p{self.rng.randint(1, 10**6)}"
        if self.rng.random() < 0.3:
            later = dt.datetime.now(dt.UTC) + dt.timedelta(days=self.rng.randint(2, 20))
            body["send_at"] = iso(later)
        await self.call(
            "PATCH /feedback_requests/:id", "PATCH", f"/feedback_requests/{request_id}", json=body
        )

    async def delete(self) -> None:
        if not self.doomed:
            return await self.create(due=False)
        request_id = self.doomed.popleft()
        r = await self.call(
            "DELETE /feedback_requests/:id",
            "DELETE",
            f"/feedback_requests/{request_id}",
            retry="DELETE /feedback_requests/:id (retry after a failure)",
        )
        if r is None:
            self.doomed.append(request_id)  # as far as we know it is still there
            return
        self.deleted.append(request_id)
        await self.call(
            "GET /feedback_requests/:id (deleted)", "GET", f"/feedback_requests/{request_id}"
        )

    def form(self) -> dict[str, Any]:
        rng = self.rng
        answers: dict[str, Any] = {}
        for qid, q in self.questions:
            name = f"q{qid}"
            if q["type"] == "rating":
                low, high = q.get("scale", [0, 10])
                answers[name] = str(rng.randint(low, high))
            elif q["type"] in ("radio", "dropdown"):
                answers[name] = rng.choice(q["options"])
            elif q["type"] == "checkbox":
                answers[name] = rng.sample(q["options"], rng.randint(0, len(q["options"])))
            elif rng.random() < 0.4:
                answers[name] = rng.choice(["Quick and friendly.", "<b>Too slow</b> & 'late'"])
        return answers

    async def answer(self, anonymous: bool = False) -> None:
        """The customer opens the emailed link (or the public one) and sends the form."""
        code, token = self.survey["code"], ""
        if not anonymous:
            if not self.links:
                return await self.get()
            code, token = self.links.popleft()
        params = {"t": token} if token else {}
        page = await self.call("GET /s/:code", "GET", f"/s/{code}", pages=True, params=params)
        if page is None:
            return
        found = FORM_TOKEN.search(page.text)
        if found is None:
            return self.wrong("GET /s/:code", "no form_token on the page")
        form = {"form_token": found.group(1), **self.form()}
        if token:
            form["t"] = token
        else:
            form |= {"name": "Anon Ymous", "email": f"anon{self.n}@example.com"}
        r = await self.call(
            "POST /s/:code",
            "POST",
            f"/s/{code}",
            pages=True,
            data=form,
            # Answering again through the same link updates the same response; an anonymous
            # answer sent twice would be two responses, so it is not retried.
            retry="POST /s/:code (retry after a failure)" if token else None,
        )
        if r is None:
            return
        if token:
            self.answered.add(token)
            if self.rng.random() < 0.15:
                self.links.append((code, token))  # answers again later through the same link
        else:
            self.anonymous += 1

    async def nps(self) -> None:
        await self.call("GET /nps", "GET", "/nps")

    async def response_rate(self) -> None:
        params = {"from_time": self.window_from, "to_time": iso(dt.datetime.now(dt.UTC))}
        await self.call("GET /response_rate", "GET", "/response_rate", params=params)

    async def operation(self, name: str) -> None:
        self.operations[name] += 1
        if name == "create_due":
            await self.create(due=True)
        elif name == "create_later":
            await self.create(due=False)
        elif name == "answer_anonymous":
            await self.answer(anonymous=True)
        else:
            await getattr(self, name)()

    def errors(self) -> int:
        unexpected = sum(
            n for (kind, status), n in self.statuses.items() if not status_ok(kind, status)
        )
        return unexpected + sum(self.wrong_content.values())


async def drive(load: Load, seconds: float, rate: float, concurrency: int) -> float:
    """Start --rate operations a second for ``seconds``, at most ``concurrency`` at a time."""
    names = list(MIX)
    weights = [MIX[n] for n in names]
    slots = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()

    async def one(name: str) -> None:
        try:
            await load.operation(name)
        except Exception as exc:  # a bug in the load generator must not end the soak silently
            load.statuses[name, f"load generator {type(exc).__name__}"] += 1
            load.note(f"{name}: load generator {type(exc).__name__}: {exc}")
        finally:
            slots.release()

    start = time.monotonic()
    due = start
    while (now := time.monotonic()) < start + seconds:
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 1.0:
            # More than a second behind (every slot busy, or this process starved of CPU): skip
            # the missed operations rather than catch up in a burst, so the load stays steady.
            load.skipped += int((now - due) * rate)
            due = now
        await slots.acquire()
        task = asyncio.create_task(one(load.rng.choices(names, weights)[0]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        due += 1 / rate
    if tasks:
        await asyncio.gather(*tasks)
    return time.monotonic() - start


class Mailbox:
    """Follows the sink's record: every message's Message-ID, and survey links to answer."""

    def __init__(self, path: Path, load: Load, answer_share: float) -> None:
        self.path, self.load, self.answer_share = path, load, answer_share
        self.offset = 0
        self.message_ids: list[str] = []

    def read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        for line in chunk[:end].decode().splitlines():
            _, message_id, code, token = line.split(" ")
            self.message_ids.append(message_id)
            if token != "-" and self.load.rng.random() < self.answer_share:
                self.load.links.append((code, token))

    async def follow(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.read()
            await asyncio.sleep(0.5)


async def sample(
    procs: list[Proc], samples: list[Sample], t0: float, every: float, warmup: float, traced: bool
) -> None:
    warm = False
    while True:
        samples.append(take_sample(procs, t0))
        if traced and not warm and samples[-1].t >= warmup:
            request_snapshots(procs)
        warm = warm or samples[-1].t >= warmup
        await asyncio.sleep(every)


def start(
    name: str, args_: list[str], env: dict[str, str], tmp: Path, frames: int, **kw: Any
) -> Proc:
    """An `opensure` process logging to tmp/NAME.log; with ``frames``, ready to trace its
    allocations (see ``bench.harness.traced_main``)."""
    log = tmp / f"{name}.log"
    args = args_
    if frames:
        args = [sys.executable, "-m", "bench.harness", "traced", str(tmp / name), str(frames)]
        args += args_[1:]
        env = {**env, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        popen = subprocess.Popen(args, env=env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT)
    return Proc(name, popen.pid, True, popen, log, **kw)


def wait_ready(proc: Proc, port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.popen is not None and proc.log is not None
        if proc.popen.poll() is not None:
            tail = proc.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{tail}")
        try:
            wait_port(port, 0.5)
            return
        except RuntimeError:
            continue
    raise RuntimeError(f"{proc.name}: nothing listens on port {port} after {timeout:g} s")


def request_snapshots(procs: list[Proc]) -> None:
    """SIGUSR1 to every traced process: the first starts tracing, the next ones snapshot."""
    for p in procs:
        if p.popen is not None:
            p.popen.send_signal(signal.SIGUSR1)


def start_tracing(procs: list[Proc], tmp: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    for p in procs:
        if p.popen is None:
            continue
        while not (tmp / f"{p.name}.ready").exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{p.name} never got ready to trace")
            time.sleep(0.1)
    request_snapshots(procs)


def snapshot_diffs(procs: list[Proc], tmp: Path, timeout: float = 120) -> dict[str, list[str]]:
    """Per process: what grew between the snapshot at the warm-up and the one at the end."""
    diffs = {}
    for p in procs:
        if p.popen is None:
            continue
        first, last = tmp / f"{p.name}-1.snap", tmp / f"{p.name}-2.snap"
        deadline = time.monotonic() + timeout
        while not last.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        if first.exists() and last.exists():
            diffs[p.name] = snapshot_diff(first, last)
        else:
            diffs[p.name] = ["(no snapshot)"]
    return diffs


def metric_sum(text: str, name: str, where: str = "") -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and where in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=10) as client:
        return (await client.get(url)).text


# The database going away for a while (a restart) is retried rather than ending the run.
DB_TROUBLE = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)


async def with_db(url: str, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """``work`` on a connection of its own, retried for a minute while the database is away."""
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = await asyncpg.connect(url)
            try:
                return await work(conn)
            finally:
                with suppress(*DB_TROUBLE):
                    await conn.close()
        except DB_TROUBLE:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(2)


async def retried(work: Callable[[], T]) -> T:
    """A set-up step through the CLI, tried again for a minute while the database is away."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return work()
        except RuntimeError as exc:
            if "database error" not in str(exc) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(2)


async def postmaster_start(url: str) -> dt.datetime:
    return await with_db(url, lambda c: c.fetchval("SELECT pg_postmaster_start_time()"))


async def drain(url: str, mailbox: Mailbox, timeout: float) -> tuple[float, int]:
    """Wait until no due request is pending and the sink has every sent one."""
    t0 = time.monotonic()

    async def counts(conn: asyncpg.Connection) -> tuple[int, int]:
        return int(await conn.fetchval(DUE_PENDING)), int(await conn.fetchval(SENT))

    while True:
        mailbox.read()
        pending, sent = await with_db(url, counts)
        if (pending == 0 and len(mailbox.message_ids) >= sent) or (time.monotonic() - t0 > timeout):
            return time.monotonic() - t0, pending
        await asyncio.sleep(1.0)


async def api_total(client: httpx.AsyncClient, state: str) -> int:
    r = await client.get("/feedback_requests", params={"states[]": state, "per_page": 1})
    r.raise_for_status()
    return int(r.headers["X-Total-Count"])


async def verify(
    url: str, load: Load, mailbox: Mailbox, procs: list[Proc], checks: list[tuple[str, bool, str]]
) -> dict[str, int]:
    """Counts through the database, the sink, the API and the processes' own metrics; returns
    the emails sent twice and the due requests left unsent."""

    async def read(conn: asyncpg.Connection) -> tuple[list[Any], int, int]:
        rows = await conn.fetch("SELECT id, state FROM feedback_requests")
        pending_due = await conn.fetchval(DUE_PENDING)
        responses = await conn.fetchval("SELECT count(*) FROM feedback_responses")
        return rows, int(pending_due), int(responses)

    rows, pending_due, responses = await with_db(url, read)
    states = {r["id"]: r["state"] for r in rows}
    by_state = Counter(states.values())
    unsent = [i for i in load.due if states.get(i) != "sent"]
    expected_ids = load.due | set(load.later) | set(load.doomed)
    checks.append(
        (
            "every due request sent",
            not unsent and pending_due == 0,
            f"{len(load.due):,} created due, {by_state['sent']:,} sent, {pending_due} due left "
            f"pending" + (f"; not sent: {sorted(unsent)[:10]}" if unsent else ""),
        )
    )
    checks.append(
        (
            "database holds exactly what the API acknowledged",
            set(states) == expected_ids,
            f"{len(states):,} rows; acknowledged and not deleted {len(expected_ids):,}; "
            f"{len(load.deleted):,} deleted",
        )
    )
    ids = Counter(mailbox.message_ids)
    duplicates = sum(n - 1 for n in ids.values())
    mailed = {int(m.group(1)) for mid in ids if (m := MESSAGE_ID.search(mid))}
    checks.append(
        (
            "each email once",
            duplicates == 0 and mailed == load.due,
            f"{len(mailbox.message_ids):,} messages at the sink, {len(ids):,} distinct "
            f"Message-IDs, {duplicates} duplicates; "
            f"{len(mailed - load.due)} for requests not created due, "
            f"{len(load.due - mailed)} due requests without one",
        )
    )
    sent_metric = 0.0
    for p in procs:
        if p.metrics_port:
            text = await scrape(f"http://127.0.0.1:{p.metrics_port}/metrics")
            sent_metric += metric_sum(text, "opensure_emails_total", 'outcome="sent"')
    checks.append(
        (
            "dispatchers' own count",
            int(sent_metric) == len(load.due),
            f"opensure_emails_total{{outcome=sent}}, all dispatchers: {sent_metric:,.0f}",
        )
    )
    server_errors = 0.0
    client = load.apis[0]
    for api in load.apis:
        text = (await api.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith("opensure_http_requests_total{") and 'status="5' in line:
                server_errors += float(line.rsplit(" ", 1)[1])
    checks.append(
        (
            "no 5xx in the servers' metrics",
            server_errors == 0,
            f"opensure_http_requests_total with a 5xx status: {server_errors:,.0f}",
        )
    )
    sent_api = await api_total(client, "sent")
    pending_api = await api_total(client, "pending")
    later = len(load.later) + len(load.doomed)
    checks.append(
        (
            "API totals",
            sent_api == len(load.due) and pending_api == later,
            f"X-Total-Count sent {sent_api:,} (expected {len(load.due):,}), pending "
            f"{pending_api:,} (expected {later:,})",
        )
    )
    nps = (await client.get("/nps")).json()
    nps_answers = nps["promoter_count"] + nps["passive_count"] + nps["detractor_count"]
    rate = (
        await client.get(
            "/response_rate",
            params={"from_time": load.window_from, "to_time": iso(dt.datetime.now(dt.UTC))},
        )
    ).json()
    answered = len(load.answered) + load.anonymous
    checks.append(
        (
            "metrics match the answers",
            nps_answers == answered == responses
            and rate["sent_count"] == len(load.due)
            and rate["reply_count"] == len(load.answered),
            f"{len(load.answered):,} requests answered through their link (some twice) and "
            f"{load.anonymous:,} anonymous answers; {responses:,} responses stored; /nps counts "
            f"{nps_answers:,} (NPS {nps['net_promoter_score']}); /response_rate: sent "
            f"{rate['sent_count']:,}, replies {rate['reply_count']:,}, "
            f"{rate['response_rate_percent']}%",
        )
    )
    return {"duplicates": duplicates, "left": len(unsent)}


def scan_logs(procs: list[Proc]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for p in procs:
        if p.log is None or not p.log.exists():
            continue
        bad = [
            line
            for line in p.log.read_text(errors="replace").splitlines()
            if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")
        ]
        if bad:
            found[p.name] = bad
    return found


def stop_all(procs: list[Proc]) -> dict[str, int | None]:
    codes: dict[str, int | None] = {}
    for p in procs:
        if p.popen is not None and p.popen.poll() is None:
            p.popen.send_signal(signal.SIGTERM)
    for p in procs:
        if p.popen is None:
            continue
        try:
            codes[p.name] = p.popen.wait(60)
        except subprocess.TimeoutExpired:
            p.popen.kill()
            codes[p.name] = None
    return codes


def write_samples(path: Path, procs: list[Proc], samples: list[Sample]) -> None:
    """Every sample as CSV: seconds into the load, then each process's RSS in MiB."""
    lines = [",".join(["t", *(p.name for p in procs)])]
    for s in samples:
        rss = [f"{(s.rss[p.name] or 0) / MIB:.2f}" for p in procs]
        lines.append(",".join([f"{s.t:.1f}", *rss]))
    path.write_text("\n".join(lines) + "\n")


def stopped_cleanly(p: Proc, code: int | None) -> bool:
    """Exit 0; or, for uvicorn, its graceful shutdown and then the signal re-raised."""
    if code == 0:
        return True
    log = p.log.read_text(errors="replace") if p.log and p.log.exists() else ""
    return code == -signal.SIGTERM and "Finished server process" in log


def memory_rows(
    procs: list[Proc], samples: list[Sample], warmup: float, load_seconds: float
) -> list[dict[str, Any]]:
    during = [s for s in samples if s.t <= load_seconds + 0.5]
    warm = next((s for s in during if s.t >= warmup), during[-1])
    first, last = during[0], during[-1]
    rows = []
    for p in procs:
        series = [(s.t, s.rss[p.name]) for s in during if s.t >= warm.t and s.rss[p.name]]
        begin, warmed, end = first.rss[p.name], warm.rss[p.name], last.rss[p.name]
        if not begin or not warmed or not end or len(series) < 2:
            rows.append({"name": p.name, "missing": True, "opensure": p.opensure})
            continue
        # Least-squares slope over the samples after the warm-up, in MiB a minute.
        n = len(series)
        mean_t = sum(t for t, _ in series) / n
        mean_r = sum(r for _, r in series) / n
        var = sum((t - mean_t) ** 2 for t, _ in series)
        slope = sum((t - mean_t) * (r - mean_r) for t, r in series) / var * 60 / MIB
        growth = end - warmed
        cpu_a, cpu_b = first.cpu[p.name], last.cpu[p.name]
        rows.append(
            {
                "name": p.name,
                "opensure": p.opensure,
                "start": begin / MIB,
                "warm": warmed / MIB,
                "end": end / MIB,
                "peak": max(r for _, r in series) / MIB,
                "growth": growth / MIB,
                "share": growth / warmed,
                "slope": slope,
                "cpu": (cpu_b - cpu_a) / (last.t - first.t) if cpu_a is not None and cpu_b else 0,
                "flat": growth < FLAT_SHARE * warmed and growth < FLAT_MIB * MIB,
            }
        )
    return rows


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def machine_facts(server_version: str) -> list[str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "src"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return [
        f"CPU: {model}, {os.cpu_count()} cores; memory {memory:.1f} GiB; "
        f"Linux {platform.release()}; Python {platform.python_version()}; "
        f"PostgreSQL {server_version}",
        f"OpenSure: {commit}" + (" (with uncommitted changes under src/)" if dirty else ""),
    ]


def command_line(args: argparse.Namespace) -> str:
    parts = [".venv/bin/python", "-m", "bench.soak"]
    for name in ("duration", "rate", "concurrency", "dispatchers", "api_processes"):
        value = getattr(args, name)
        if value != DEFAULTS[name]:
            parts += [f"--{name.replace('_', '-')}", f"{value:g}"]
    if args.warmup is not None:
        parts += ["--warmup", f"{args.warmup:g}"]
    if args.write:
        parts.append("--write")
    return shlex.join(parts)


DEFAULTS: dict[str, Any] = {
    "duration": 300.0,
    "rate": 80.0,
    "concurrency": 16,
    "dispatchers": 2,
    "api_processes": 2,
}


def report(ctx: dict[str, Any]) -> str:
    load: Load = ctx["load"]
    args = ctx["args"]
    out: list[str] = []
    add = out.append

    def para(text: str, bullet: bool = False) -> None:
        wrap = {"break_on_hyphens": False, "break_long_words": False}
        if bullet:
            add(textwrap.fill(text, 100, initial_indent="- ", subsequent_indent="  ", **wrap))
        else:
            add(textwrap.fill(text, 100, **wrap))

    add("```sh")
    add(f"OPENSURE_BENCH_POSTGRES_URL=postgresql://… {command_line(args)}")
    add("```")
    add("")
    failed = [name for name, ok, _ in ctx["checks"] if not ok]
    para(
        ("**Passed**" if ctx["passed"] else "**FAILED** (" + "; ".join(failed) + ")")
        + f": {load.errors()} errors in {sum(load.statuses.values()):,} requests; "
        f"{len(ctx['mailbox'].message_ids):,} emails sent, "
        f"{ctx['duplicates']} twice, {ctx['left']} due requests left unsent; the RSS of "
        + (
            "every OpenSure process flat after the warm-up."
            if not ctx["grew"]
            else "these OpenSure processes grew after the warm-up: " + ", ".join(ctx["grew"]) + "."
        )
    )
    add("")
    para(
        f"The production shape on PostgreSQL for {args.duration:g} s: {args.api_processes} "
        f"`opensure serve --no-dispatcher` processes (load spread over them in turn), "
        f"{args.dispatchers} `opensure dispatcher` processes, an SMTP sink (aiosmtpd in its own "
        f"process, discarding mail), and `bench/soak.py` itself as the client: httpx, "
        f"{args.rate:g} operations a second, at most {args.concurrency} in flight. The mix: "
        "creates due now (the dispatchers send them) and a week ahead, GET by id, list pages, "
        "PATCH and DELETE of pending requests (each DELETE then checked to answer 404), creates "
        "retried with the same `Idempotency-Key`, survey answers through the emailed links (the "
        "page, then its form's POST; 15% answered again), anonymous answers, `/nps` and "
        "`/response_rate`. Everything, PostgreSQL included, shares the machine's cores."
    )
    add("")
    add(f"Run {ctx['date']}; load average at start {ctx['loadavg']}.")
    add("")
    for line in ctx["machine"]:
        para(line, bullet=True)
    para(
        f"machine CPU during the load: {ctx['machine_busy']:.0%} of {os.cpu_count()} cores busy "
        f"on average (OpenSure processes {ctx['opensure_cpu']:.2f} cores, load generator "
        f"{ctx['client_cpu']:.2f}, sink {ctx['sink_cpu']:.2f}, PostgreSQL (all its "
        f"processes) {ctx['postgres_cpu']:.2f}, everything else on the machine "
        f"{ctx['rest_cpu']:.2f})",
        bullet=True,
    )
    add("")
    add("### Requests")
    add("")
    total = sum(load.statuses.values())
    para(
        f"{total:,} HTTP requests in {ctx['elapsed']:.0f} s ({total / ctx['elapsed']:.1f}/s) from "
        f"{sum(load.operations.values()):,} operations"
        + (
            f" ({load.skipped:,} more skipped: the load fell more than a second behind)."
            if load.skipped
            else " (none skipped: the load kept its rate)."
        )
    )
    add("")
    add("| request | count | expected status | unexpected | p50 ms | p99 ms |")
    add("|---|---:|---:|---:|---:|---:|")
    kinds = list(EXPECTED) + sorted({k for k, _ in load.statuses} - set(EXPECTED))
    for kind in kinds:
        shown = " or ".join(str(code) for code in expected(kind)) or "—"
        count = sum(n for (k, _), n in load.statuses.items() if k == kind)
        bad = sum(n for (k, s), n in load.statuses.items() if k == kind and not status_ok(k, s))
        bad += load.wrong_content[kind]
        if count == 0 and kind not in MIX_KINDS:
            continue
        lat = load.latencies.get(kind, [])
        p50 = f"{percentile(lat, 0.5) * 1000:.1f}" if lat else "—"
        p99 = f"{percentile(lat, 0.99) * 1000:.1f}" if lat else "—"
        add(f"| `{kind}` | {count:,} | {shown} | {bad} | {p50} | {p99} |")
    add("")
    add("### Checks")
    add("")
    for name, ok, detail in ctx["checks"]:
        para(f"{name}: **{'ok' if ok else 'FAILED'}** — {detail}", bullet=True)
    if ctx["smtp_sessions"]:
        emails = len(ctx["mailbox"].message_ids)
        para(
            f"(for information) SMTP connections the sink accepted: {ctx['smtp_sessions']:,}, "
            f"{emails / ctx['smtp_sessions']:.1f} emails a connection",
            bullet=True,
        )
    add("")
    add("### Memory (RSS)")
    add("")
    para(
        f"Sampled every {args.sample_every:g} s from /proc. start: before the load; warm-up: "
        f"{ctx['warmup']:g} s into the load; end: the last sample of the load. growth = end - "
        "warm-up; slope: least-squares fit of the samples after the warm-up. **flat** when "
        f"growth is under {FLAT_SHARE:.0%} of the warm-up figure and under {FLAT_MIB} MiB. CPU: "
        "cores the process kept busy during the load."
    )
    add("")
    add(
        "| process | start MiB | warm-up MiB | end MiB | peak MiB | growth MiB | growth "
        "| slope MiB/min | CPU | verdict |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in ctx["memory"]:
        if r.get("missing"):
            add(f"| {r['name']} | — | — | — | — | — | — | — | — | no samples |")
            continue
        verdict = ("flat" if r["flat"] else "**grew**") if r["opensure"] else "(not OpenSure)"
        add(
            f"| {r['name']} | {r['start']:.1f} | {r['warm']:.1f} | {r['end']:.1f} | "
            f"{r['peak']:.1f} | {r['growth']:+.1f} | {r['share']:+.1%} | {r['slope']:+.2f} | "
            f"{r['cpu']:.2f} | {verdict} |"
        )
    if ctx["diffs"]:
        add("")
        add(
            f"### tracemalloc: what grew from the warm-up to the end ({args.tracemalloc} frames; "
            "tracing slows the processes and adds to their RSS)"
        )
        for name, lines in ctx["diffs"].items():
            add("")
            add(f"{name}:")
            add("")
            add("```")
            out.extend(lines)
            add("```")
    if load.unexpected:
        add("")
        add("First unexpected answers:")
        add("")
        for problem in load.unexpected[:10]:
            add(f"- `{problem}`")
    return "\n".join(out)


def write_doc(section: str) -> None:
    write_marked(DOC, START, END, HEADING, section)


async def run(args: argparse.Namespace) -> bool:
    loadavg = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    warmup = args.warmup if args.warmup is not None else args.duration * 0.1
    url = await with_db(
        args.postgres_url, lambda _: create_database("bench_soak", args.postgres_url)
    )
    procs: list[Proc] = []
    checks: list[tuple[str, bool, str]] = []
    with tempfile.TemporaryDirectory(prefix="opensure-soak-") as tmpdir:
        tmp = Path(tmpdir)
        mail_log = tmp / "sink.log"
        sink = Sink(record_to=mail_log, links=True)
        procs.append(Proc("smtp sink", sink.pid, False))
        try:
            ports = [free_port() for _ in range(args.api_processes)]
            env = opensure_env(
                database_url=url,
                mail_url=f"smtp://127.0.0.1:{sink.port}",
                public_url=f"http://127.0.0.1:{ports[0]}",
                mail_from="feedback@example.com",
                # The per-token limiter stays on (it counts every request) but never answers 429.
                rate_limit="1000000000",
            )

            def prepare() -> tuple[dict[str, Any], dict[str, Any]]:
                done = subprocess.run(
                    [OPENSURE, "migrate"], env=env, cwd=tmp, capture_output=True, text=True
                )
                if done.returncode != 0:
                    raise RuntimeError(f"opensure migrate: {done.stderr.strip()}")
                account, survey = create_account(env, tmp, SURVEY, name="Soak")
                cli(env, "tokens", "create", "--account", str(account["id"]))  # a second, unused
                return account, survey

            account, survey = await retried(prepare)
            for i, port in enumerate(ports, 1):
                procs.append(
                    start(
                        f"api-{i}",
                        [OPENSURE, "serve", "--no-dispatcher", "--no-demo", "--port", str(port)],
                        env,
                        tmp,
                        args.tracemalloc,
                    )
                )
            for i in range(1, args.dispatchers + 1):
                port = free_port()
                procs.append(
                    start(
                        f"dispatcher-{i}",
                        [OPENSURE, "dispatcher", "--metrics-port", str(port)],
                        env,
                        tmp,
                        args.tracemalloc,
                        metrics_port=port,
                    )
                )
            for proc, port in zip(procs[1:], ports, strict=False):
                wait_ready(proc, port)
            if args.tracemalloc:
                start_tracing(procs, tmp)
            procs.append(Proc("load generator (bench.soak)", os.getpid(), False))
            server_version = await with_db(url, lambda c: c.fetchval("SHOW server_version"))
            pg_started = await postmaster_start(url)

            # Idle connections are dropped after 2 s, before uvicorn's own 5 s keep-alive
            # timeout: with httpx's default of 5 s as well, a request now and then goes out on a
            # connection the server is closing at that moment and fails with a ReadError.
            limits = httpx.Limits(max_connections=args.concurrency, keepalive_expiry=2.0)
            apis = [
                httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{p}",
                    headers=api_headers(account["token"]),
                    limits=limits,
                    timeout=30,
                )
                for p in ports
            ]
            pages = [
                httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{p}",
                    headers={"User-Agent": "Mozilla/5.0 (soak)"},
                    limits=limits,
                    timeout=30,
                )
                for p in ports
            ]
            questions = list(
                zip((q["id"] for q in survey["questions"]), SURVEY["questions"], strict=True)
            )
            load = Load(apis, pages, survey, questions)
            load.window_from = iso(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
            mailbox = Mailbox(mail_log, load, args.answer_share)
            samples: list[Sample] = []
            stop = asyncio.Event()
            t0 = time.monotonic()
            sampler = asyncio.create_task(
                sample(procs, samples, t0, args.sample_every, warmup, bool(args.tracemalloc))
            )
            follower = asyncio.create_task(mailbox.follow(stop))
            progress = asyncio.create_task(show_progress(load, mailbox, t0, args.duration))
            try:
                elapsed = await drive(load, args.duration, args.rate, args.concurrency)
                # The last sample of the load: taken now, after the load's final requests.
                samples.append(take_sample(procs, t0))
                if args.tracemalloc:
                    request_snapshots(procs)
            finally:
                sampler.cancel()
                progress.cancel()
                stop.set()
                await follower
            load_seconds = samples[-1].t
            drained, left = await drain(url, mailbox, args.drain_timeout)
            restarted = await postmaster_start(url)
            checks.append(
                (
                    "PostgreSQL stayed up",
                    restarted == pg_started,
                    "started before the run and not since"
                    if restarted == pg_started
                    else f"restarted during the run (by something else on the machine): up "
                    f"since {pg_started:%H:%M:%S}, then since {restarted:%H:%M:%S} UTC",
                )
            )
            print(f"drained in {drained:.1f} s ({left} due left pending)", file=sys.stderr)
            counts = await verify(url, load, mailbox, procs, checks)
            for client in apis + pages:
                await client.aclose()
            errors = load.errors()
            checks.insert(
                0,
                (
                    "no unexpected answer",
                    errors == 0,
                    f"{errors} unexpected statuses, transport errors or wrong contents in "
                    f"{sum(load.statuses.values()):,} requests",
                ),
            )
            memory = memory_rows(procs, samples, warmup, load_seconds)
            if args.samples:
                write_samples(args.samples, procs, samples)
            diffs = snapshot_diffs(procs, tmp) if args.tracemalloc else {}
        finally:
            codes = stop_all(procs)
            sink.stop()
            await with_db(args.postgres_url, lambda _: drop_database(url, args.postgres_url))
        bad_logs = scan_logs(procs)
        clean = [stopped_cleanly(p, codes[p.name]) for p in procs if p.name in codes]
        counted = Path(f"{mail_log}.sessions")
        smtp_sessions = int(counted.read_text()) if counted.exists() else None
    checks.append(
        (
            "clean stop",
            all(clean),
            "exit codes after SIGTERM: "
            + ", ".join(f"{k} {v}" for k, v in codes.items())
            + " (-15 after uvicorn's graceful shutdown: it re-raises the signal it caught)",
        )
    )
    checks.append(
        (
            "no errors in the logs",
            not bad_logs,
            "no ERROR, CRITICAL or Traceback line"
            if not bad_logs
            else "; ".join(
                f"{k}: {len(v)} lines, first: {v[0][:200]}" for k, v in bad_logs.items()
            ),
        )
    )
    grew = [r["name"] for r in memory if r["opensure"] and not r.get("missing") and not r["flat"]]
    if not args.tracemalloc:
        checks.append(
            (
                "memory flat after the warm-up",
                not grew,
                "every OpenSure process" if not grew else "grew: " + ", ".join(grew),
            )
        )
    first, last = samples[0], next(s for s in reversed(samples) if s.t <= load_seconds + 0.5)
    span = last.t - first.t
    busy = (last.machine[0] - first.machine[0]) / (last.machine[1] - first.machine[1])
    cores = os.cpu_count() or 1

    def cpu_of(names: list[str]) -> float:
        rows = [r for r in memory if r["name"] in names and not r.get("missing")]
        return sum(r["cpu"] for r in rows)

    opensure_cpu = cpu_of([p.name for p in procs if p.opensure])
    client_cpu = cpu_of(["load generator (bench.soak)"])
    sink_cpu = cpu_of(["smtp sink"])
    postgres_cpu_share = postgres_busy([s for s in samples if s.t <= last.t]) / span
    ctx = {
        "args": args,
        "load": load,
        "date": date,
        "loadavg": loadavg,
        "machine": machine_facts(server_version),
        "machine_busy": busy,
        "opensure_cpu": opensure_cpu,
        "client_cpu": client_cpu,
        "sink_cpu": sink_cpu,
        "postgres_cpu": postgres_cpu_share,
        "rest_cpu": busy * cores - opensure_cpu - client_cpu - sink_cpu - postgres_cpu_share,
        "elapsed": elapsed,
        "span": span,
        "checks": checks,
        "memory": memory,
        "warmup": warmup,
        "passed": all(ok for _, ok, _ in checks),
        "diffs": diffs,
        "grew": grew,
        **counts,
        "smtp_sessions": smtp_sessions,
        "mailbox": mailbox,
    }
    section = report(ctx)
    print(section)
    if args.write:
        write_doc(section)
        print(f"\nwrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    return bool(ctx["passed"])


async def show_progress(load: Load, mailbox: Mailbox, t0: float, duration: float) -> None:
    while True:
        await asyncio.sleep(10)
        print(
            f"{time.monotonic() - t0:5.0f}/{duration:g} s: {sum(load.statuses.values()):,} "
            f"requests, {load.errors()} unexpected, {len(load.due):,} created due, "
            f"{len(mailbox.message_ids):,} emails, {len(load.answered):,} answered",
            file=sys.stderr,
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=DEFAULTS["duration"], help="seconds")
    parser.add_argument(
        "--postgres-url",
        default=PG_ADMIN,
        help="a database URL on the server to use; the run creates its own database there "
        "(default: OPENSURE_BENCH_POSTGRES_URL)",
    )
    parser.add_argument("--rate", type=float, default=DEFAULTS["rate"], help="operations a second")
    parser.add_argument(
        "--concurrency", type=int, default=DEFAULTS["concurrency"], help="most in flight"
    )
    parser.add_argument(
        "--api-processes", type=int, default=DEFAULTS["api_processes"], choices=range(1, 9)
    )
    parser.add_argument(
        "--dispatchers", type=int, default=DEFAULTS["dispatchers"], choices=range(1, 9)
    )
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds (default: 10%% of the duration)"
    )
    parser.add_argument("--sample-every", type=float, default=3.0, help="RSS sampling, seconds")
    parser.add_argument(
        "--answer-share", type=float, default=0.3, help="share of emails whose link is answered"
    )
    parser.add_argument("--drain-timeout", type=float, default=180.0, help="seconds")
    parser.add_argument("--samples", type=Path, help="write every RSS sample to this CSV file")
    parser.add_argument(
        "--tracemalloc",
        type=int,
        default=0,
        metavar="FRAMES",
        help="run the OpenSure processes under tracemalloc and report what grew between the "
        "warm-up and the end (allocation sites, FRAMES deep); for finding a leak, not for figures",
    )
    parser.add_argument(
        "--write", action="store_true", help="put the report into docs/benchmarks.md"
    )
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()
