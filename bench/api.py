"""Requests/s and latency of the API's hot endpoints, next to a bare Starlette baseline.

    .venv/bin/python -m bench.api [--quick] [--backend sqlite,postgresql] [--workers 1,2]
                                  [--endpoint get,post,list,responses] [--write]

For each backend (a fresh SQLite file in a temporary directory; a fresh PostgreSQL database
that is dropped afterwards) it migrates with ``opensure migrate``, creates two accounts with a
token and a survey through the CLI, then for each worker count starts ``opensure serve`` and
the baseline app (``bench/baseline_app.py``: Starlette + asyncpg/aiosqlite, under uvicorn with
the same worker count and the same supervisor, a listening socket per worker) side by side on
127.0.0.1, seeds ~1,000 feedback requests with two data items each through the API, checks
that both apps answer with the same JSON, and measures:

* ``GET /feedback_requests/:id``       random ids among the seeded requests
* ``POST /feedback_requests``          a new request with two data items, send_at in the future
* ``GET /feedback_requests?per_page=100``  the first page of the seeded account
* ``GET /feedback_responses?per_page=100`` the first page of 300 responses seeded straight into
  the database (answers and the request they answer embedded)

with wrk (one thread by default: on a 2-core machine the load generator shares the CPUs with
the servers), a warm-up run first, OpenSure and then the baseline for each endpoint. POSTs go
to a second account so that the list and GET figures do not change as the table grows.

Results go to stdout as a Markdown table (ratio = OpenSure / baseline req/s), to
``bench/results/*.json`` (not in git), and with ``--write`` into ``docs/benchmarks.md``
(only the part between the ``bench:begin`` / ``bench:end`` markers is replaced).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"
RESULTS_DIR = REPO / "bench" / "results"
SURVEY_FILE = REPO / "src" / "opensure" / "demo" / "survey.yaml"
MEDIA_TYPE = "application/vnd.customersure.v1+json"
BEGIN_MARK = "<!-- bench:begin -->"
END_MARK = "<!-- bench:end -->"

BACKENDS = ("sqlite", "postgresql")
ENDPOINTS = {
    "get": "GET /feedback_requests/:id",
    "post": "POST /feedback_requests",
    "list": "GET /feedback_requests?per_page=100",
    "responses": "GET /feedback_responses?per_page=100",
}
# OpenSure req/s as a share of the baseline's, per endpoint.
TARGETS = {"get": 0.85, "post": 0.50, "list": 0.70, "responses": 0.70}
LIST_PATH = "/feedback_requests?per_page=100"
RESPONSES_PATH = "/feedback_responses?per_page=100"
# Responses seeded (straight into the database: one per seeded request, every question
# answered), so that the responses list has full pages with an embedded request each.
RESPONSES = 300
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_ENV = ("OPENSURE_BENCH_POSTGRES_URL", "OPENSURE_TEST_POSTGRES_URL")
RATE_LIMIT = 10**9
# Niceness for the servers and wrk (--nice): on a shared machine, a negative value keeps other
# jobs from taking CPU in the middle of a measurement. PostgreSQL keeps its own.
NICE = 0


def niced(cmd: list[str]) -> list[str]:
    return ["nice", "-n", str(NICE), *cmd] if NICE else cmd


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- results


@dataclasses.dataclass
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors, timeouts and 4xx/5xx answers
    # CPU time per request of the server's processes (all workers and threads); None where
    # /proc is not available.
    cpu_ms: float | None = None
    # Cores busy with anything but the server, PostgreSQL and the load generator: other
    # processes on the machine, i.e. noise.
    other_cores: float | None = None


@dataclasses.dataclass
class Result:
    backend: str
    workers: int
    endpoint: str
    opensure: Measurement
    baseline: Measurement
    # Every round's measurements; opensure/baseline above are the median ones.
    runs: dict[str, list[Measurement]] = dataclasses.field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.opensure.rps / self.baseline.rps if self.baseline.rps else 0.0

    @property
    def target(self) -> float | None:
        return TARGETS.get(self.endpoint)

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.ratio >= self.target


# ---------------------------------------------------------------- setup


@dataclasses.dataclass
class Fixture:
    """What the CLI created: one account to read (seeded) and one to write to."""

    read_token: str
    read_survey_id: int
    write_token: str
    write_survey_id: int
    seeded_ids: list[int] = dataclasses.field(default_factory=list)


def opensure_bin() -> str:
    local = Path(sys.executable).parent / "opensure"
    if local.exists():
        return str(local)
    found = shutil.which("opensure")
    if found is None:
        raise SystemExit("bench: the opensure command is not installed (pip install -e .)")
    return found


def opensure_env(url: str, tmp: Path, public_url: str = "http://127.0.0.1:8000") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSURE_")}
    env.update(
        OPENSURE_DATABASE_URL=url,
        OPENSURE_PUBLIC_URL=public_url,
        OPENSURE_MAIL_URL=f"maildir:{tmp / 'outbox'}",
        # Far above what a run sends, so the per-token limit (5,000 an hour by default) never
        # answers 429; the limiter still counts every request, as it does in production.
        OPENSURE_RATE_LIMIT=str(RATE_LIMIT),
    )
    return env


def cli(url: str, tmp: Path, *args: str) -> dict[str, Any]:
    """Run an ``opensure`` admin command (in ``tmp``, so no stray .env is read)."""
    done = subprocess.run(
        [opensure_bin(), *args],
        cwd=tmp,
        env=opensure_env(url, tmp),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"opensure {' '.join(args)} failed: {done.stderr.strip()}")
    return json.loads(done.stdout) if "--json" in args else {}


def create_fixture(url: str, tmp: Path) -> Fixture:
    cli(url, tmp, "migrate")
    made = []
    for name in ("Bench Reader", "Bench Writer"):
        account = cli(url, tmp, "accounts", "create", name, "--json")
        survey = cli(url, tmp, "surveys", "import", "--account", name, str(SURVEY_FILE), "--json")
        made.append((account["token"], int(survey["id"])))
    return Fixture(made[0][0], made[0][1], made[1][0], made[1][1])


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_admin(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _pg_version(url: str) -> str:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        version = str(await conn.fetchval("SHOW server_version"))
        limit = int(await conn.fetchval("SHOW max_connections"))
        used = int(await conn.fetchval("SELECT count(*) FROM pg_stat_activity"))
    finally:
        await conn.close()
    # OpenSure may open up to 20 connections per worker, the baseline up to 30.
    if limit - used < 70:
        log(
            f"PostgreSQL allows {limit} connections and {used} are in use: OpenSure may get "
            "'too many clients' errors, which show up as errors in the table"
        )
    return version


@contextlib.contextmanager
def fresh_database(backend: str, tmp: Path, pg_url: str) -> Iterator[str]:
    if backend == "sqlite":
        path = tmp / f"bench-{secrets.token_hex(4)}.db"
        yield f"sqlite:///{path}"
        return
    name = f"bench_{secrets.token_hex(6)}"
    asyncio.run(_pg_admin(pg_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def pg_reachable(pg_url: str) -> str | None:
    """None when reachable, else why not."""
    try:
        asyncio.run(_pg_admin(pg_url, "SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return str(exc) or type(exc).__name__
    return None


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def headers_for(token: str) -> dict[str, str]:
    return {
        "User-Agent": "OpenSure bench",
        "Accept": MEDIA_TYPE,
        "Authorization": f'Token token="{token}"',
    }


class Server:
    """A server process we started (in its own session), stopped by its pid."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path, port: int):
        self.name = name
        self.port = port
        self.log_path = cwd / f"{name}-{port}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            niced(cmd),
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_ready(self, token: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        ok = 0
        with httpx.Client(base_url=self.base, headers=headers_for(token), timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
                try:
                    # A fresh connection each time, so every worker process gets asked.
                    r = client.get("/feedback_requests?per_page=1", headers={"Connection": "close"})
                    ok = ok + 1 if r.status_code == 200 else 0
                except httpx.TransportError:
                    ok = 0
                if ok >= 20:
                    return
                time.sleep(0.05 if ok else 0.2)
        raise RuntimeError(f"{self.name} did not become ready:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                # Our own session: the uvicorn supervisor and its workers, nothing else.
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


def serve_supports_no_dispatcher() -> bool:
    done = subprocess.run(
        [opensure_bin(), "serve", "--help"], capture_output=True, text=True, check=False
    )
    return "--no-dispatcher" in done.stdout


def start_opensure(url: str, workers: int, tmp: Path, no_dispatcher: bool) -> Server:
    port = free_port()
    cmd = [
        opensure_bin(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--no-demo",
    ]
    if no_dispatcher:
        cmd.append("--no-dispatcher")
    env = opensure_env(url, tmp, f"http://127.0.0.1:{port}")
    return Server("opensure", cmd, env, tmp, port)


def start_baseline(url: str, workers: int, tmp: Path, sqlite_driver: str) -> Server:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "bench.baseline_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    env = dict(os.environ)
    env.update(
        BENCH_BASELINE_DATABASE_URL=url,
        BENCH_BASELINE_SQLITE_DRIVER=sqlite_driver,
        BENCH_BASELINE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        PYTHONPATH=str(REPO),
    )
    return Server("baseline", cmd, env, tmp, port)


# ---------------------------------------------------------------- seeding and checks


def request_body(survey_id: int, email: str, n: int, send_at: str) -> dict[str, Any]:
    return {
        "email": email,
        "send_at": send_at,
        "survey_id": survey_id,
        "first_name": "Kate",
        "surname": "Smith",
        "reference": f"#{n}",
        "data": [{"key": "order_id", "value": f"A{n}"}, {"key": "channel", "value": "email"}],
    }


def future_send_at(days: int = 30) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _seed(base: str, fixture: Fixture, count: int) -> list[int]:
    send_base = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    gate = asyncio.Semaphore(16)
    async with httpx.AsyncClient(
        base_url=base, headers=headers_for(fixture.read_token), timeout=30
    ) as client:

        async def one(n: int) -> int:
            send_at = (send_base + dt.timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
            body = request_body(fixture.read_survey_id, f"seed{n}@example.com", n, send_at)
            async with gate:
                r = await client.post("/feedback_requests", json=body)
            if r.status_code != 201:
                raise RuntimeError(f"seeding failed: {r.status_code} {r.text}")
            return int(r.json()["id"])

        ids = await asyncio.gather(*(one(n) for n in range(count)))
    return sorted(ids)


def seed(server: Server, fixture: Fixture, count: int) -> None:
    started = time.monotonic()
    fixture.seeded_ids = asyncio.run(_seed(server.base, fixture, count))
    log(f"seeded {count} feedback requests in {time.monotonic() - started:.1f}s")


def seed_responses(url: str, fixture: Fixture) -> None:
    """A response to each of the first RESPONSES seeded requests, written to the database."""
    started = time.monotonic()
    now = dt.datetime.now(dt.UTC)
    rows = [
        (fixture.read_survey_id, rid, f"seed{n}@example.com", now - dt.timedelta(minutes=n))
        for n, rid in enumerate(fixture.seeded_ids[:RESPONSES])
    ]
    if url.startswith("sqlite"):
        db = sqlite3.connect(make_url(url).database or "")
        try:
            with db:
                _seed_responses_sqlite(db, fixture, rows)
        finally:
            db.close()
    else:
        asyncio.run(_seed_responses_pg(url, fixture, rows))
    log(f"seeded {len(rows)} feedback responses in {time.monotonic() - started:.1f}s")


def _answer(qtype: str, n: int) -> tuple[str, int | None]:
    return (str(n % 11), n % 11) if qtype == "rating" else (f"answer {n}", None)


def _seed_responses_sqlite(db: sqlite3.Connection, fixture: Fixture, rows: list[Any]) -> None:
    account = db.execute(
        "SELECT account_id FROM surveys WHERE id = ?", (fixture.read_survey_id,)
    ).fetchone()[0]
    questions = db.execute(
        "SELECT id, type FROM questions WHERE survey_id = ? ORDER BY position",
        (fixture.read_survey_id,),
    ).fetchall()
    for n, (survey, rid, email, at) in enumerate(rows):
        stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f")
        response = db.execute(
            "INSERT INTO feedback_responses (account_id, survey_id, feedback_request_id, email, "
            "name, reference, submitted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "RETURNING id",
            (account, survey, rid, email, "Kate Smith", f"#{n}", stamp, stamp),
        ).fetchone()[0]
        db.executemany(
            "INSERT INTO answers (feedback_response_id, question_id, value, rating) "
            "VALUES (?, ?, ?, ?)",
            [(response, qid, *_answer(qtype, n)) for qid, qtype in questions],
        )


async def _seed_responses_pg(url: str, fixture: Fixture, rows: list[Any]) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        account = await conn.fetchval(
            "SELECT account_id FROM surveys WHERE id = $1", fixture.read_survey_id
        )
        questions = await conn.fetch(
            "SELECT id, type FROM questions WHERE survey_id = $1 ORDER BY position",
            fixture.read_survey_id,
        )
        async with conn.transaction():
            for n, (survey, rid, email, at) in enumerate(rows):
                response = await conn.fetchval(
                    "INSERT INTO feedback_responses (account_id, survey_id, feedback_request_id, "
                    "email, name, reference, submitted_at, updated_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
                    account,
                    survey,
                    rid,
                    email,
                    "Kate Smith",
                    f"#{n}",
                    at,
                )
                await conn.executemany(
                    "INSERT INTO answers (feedback_response_id, question_id, value, rating) "
                    "VALUES ($1, $2, $3, $4)",
                    [(response, q["id"], *_answer(q["type"], n)) for q in questions],
                )
    finally:
        await conn.close()


def check_same_answers(opensure: Server, baseline: Server, fixture: Fixture) -> None:
    """Both apps must answer each benchmarked request alike, or the comparison means nothing."""

    def call(server: Server, method: str, path: str, token: str, **kw: Any) -> httpx.Response:
        with httpx.Client(base_url=server.base, headers=headers_for(token), timeout=10) as c:
            return c.request(method, path, **kw)

    for path in (f"/feedback_requests/{fixture.seeded_ids[0]}", LIST_PATH, RESPONSES_PATH):
        a = call(opensure, "GET", path, fixture.read_token)
        b = call(baseline, "GET", path, fixture.read_token)
        if a.status_code != 200 or b.status_code != 200 or a.json() != b.json():
            raise RuntimeError(
                f"GET {path}: the apps disagree\nopensure {a.status_code}: {a.text[:500]}\n"
                f"baseline {b.status_code}: {b.text[:500]}"
            )
        for name in ("x-total-count", "x-total-pages", "content-type"):
            if a.headers.get(name) != b.headers.get(name):
                raise RuntimeError(f"GET {path}: header {name} differs")
        links = [
            r.headers.get("link", "").replace(s.base, "") for r, s in ((a, opensure), (b, baseline))
        ]
        if links[0] != links[1]:
            raise RuntimeError(f"GET {path}: Link differs: {links}")
    body = request_body(fixture.write_survey_id, "check@example.com", 0, future_send_at())
    a = call(opensure, "POST", "/feedback_requests", fixture.write_token, json=body)
    b = call(baseline, "POST", "/feedback_requests", fixture.write_token, json=body)
    if a.status_code != 201 or b.status_code != 201:
        raise RuntimeError(f"POST: {a.status_code} {a.text[:300]} / {b.status_code} {b.text[:300]}")
    ja, jb = a.json(), b.json()

    def comparable(j: dict[str, Any]) -> dict[str, Any]:
        volatile = ("id", "created_at", "updated_at")
        return {
            **{k: v for k, v in j.items() if k not in volatile},
            "data": [(d["key"], d["value"]) for d in j["data"]],
        }

    if list(ja) != list(jb) or comparable(ja) != comparable(jb):
        raise RuntimeError(f"POST: the apps disagree\n{ja}\n{jb}")
    if not a.headers.get("location") or not b.headers.get("location"):
        raise RuntimeError("POST: Location header missing")


# ---------------------------------------------------------------- CPU accounting (Linux /proc)

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclasses.dataclass
class Usage:
    """CPU seconds used so far, by group."""

    server: float  # the server process and its descendants (uvicorn workers)
    postgres: dict[int, float]  # every live PostgreSQL process (any database)
    postgres_exited: float  # PostgreSQL processes already reaped by the postmaster
    loadgen: float  # our reaped child processes: wrk
    machine: float  # every CPU of the machine, busy time
    wall: float

    @classmethod
    def take(cls, server_pid: int) -> Usage | None:
        try:
            first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        except OSError:
            return None
        # user nice system idle iowait irq softirq steal …
        machine = sum(int(v) for i, v in enumerate(first[1:9]) if i not in (3, 4)) / CLK_TCK
        cpu: dict[int, float] = {}
        children: dict[int, list[int]] = collections.defaultdict(list)
        postgres: dict[int, float] = {}
        parents: dict[int, int] = {}
        reaped: dict[int, float] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                head, tail = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)
            except (OSError, ValueError):
                continue
            fields = tail.split()
            pid = int(entry)
            cpu[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
            children[int(fields[1])].append(pid)
            if head.endswith("(postgres"):
                postgres[pid] = cpu[pid]
                parents[pid] = int(fields[1])
                reaped[pid] = (int(fields[13]) + int(fields[14])) / CLK_TCK
        # The postmaster (the postgres process whose parent is not one) reaps the backends
        # that close, so their CPU time ends up in its children's total.
        exited = sum(t for pid, t in reaped.items() if parents[pid] not in postgres)
        server, todo = 0.0, [server_pid]
        while todo:
            pid = todo.pop()
            server += cpu.get(pid, 0.0)
            todo += children.get(pid, [])
        own = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cls(server, postgres, exited, own.ru_utime + own.ru_stime, machine, time.monotonic())


def account(m: Measurement, before: Usage | None, after: Usage | None) -> None:
    """Fill in the server's CPU per request and the other load on the machine meanwhile."""
    if before is None or after is None or not m.requests:
        return
    server = after.server - before.server
    postgres = after.postgres_exited - before.postgres_exited
    postgres += sum(t - before.postgres.get(pid, 0.0) for pid, t in after.postgres.items())
    loadgen = after.loadgen - before.loadgen
    m.cpu_ms = 1000 * server / m.requests
    wall = after.wall - before.wall
    if wall > 0:
        busy = after.machine - before.machine
        m.other_cores = max(0.0, (busy - server - postgres - loadgen) / wall)


# ---------------------------------------------------------------- load generation

WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_str(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def wrk_script(endpoint: str, fixture: Fixture, prefix: str) -> str:
    token = fixture.write_token if endpoint == "post" else fixture.read_token
    lines = [f"wrk.headers[{lua_str(k)}] = {lua_str(v)}" for k, v in headers_for(token).items()]
    if endpoint == "get":
        ids = ",".join(str(i) for i in fixture.seeded_ids)
        lines += [
            f"local ids = {{{ids}}}",
            "local n = #ids",
            "init = function(args) math.randomseed(os.time() + math.floor(os.clock() * 1e6)) end",
            "request = function()",
            '  return wrk.format("GET", "/feedback_requests/" .. ids[math.random(n)])',
            "end",
        ]
    elif endpoint in ("list", "responses"):
        path = LIST_PATH if endpoint == "list" else RESPONSES_PATH
        lines += [
            "request = function()",
            f'  return wrk.format("GET", {lua_str(path)})',
            "end",
        ]
    else:
        template = json.dumps(
            request_body(fixture.write_survey_id, "EMAIL", 0, future_send_at()),
            separators=(",", ":"),
        )
        template = (
            template.replace("%", "%%")
            .replace('"EMAIL"', '"%s-%d@example.com"')
            .replace('"#0"', '"#%d"')
            .replace('"A0"', '"A%d"')
        )
        lines += [
            'wrk.headers["Content-Type"] = "application/json"',
            "local counter = 0",
            f"local prefix = {lua_str(prefix)} .. tostring(math.random(1, 1e9))",
            f"local template = {lua_str(template)}",
            "request = function()",
            "  counter = counter + 1",
            "  local body = string.format(template, prefix, counter, counter, counter)",
            '  return wrk.format("POST", "/feedback_requests", nil, body)',
            "end",
        ]
    return "\n".join(lines) + "\n" + WRK_DONE


def run_wrk(
    server: Server, script: Path, seconds: float, connections: int, threads: int
) -> Measurement:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        server.base,
    ]
    done = subprocess.run(
        niced(cmd), capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    match = re.search(r"^BENCH_RESULT (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    r = json.loads(match[1])
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return Measurement(
        rps=r["requests"] / (r["duration_us"] / 1e6),
        p50_ms=r["p50_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        requests=r["requests"],
        errors=errors,
    )


def httpx_requests(
    endpoint: str, fixture: Fixture, prefix: str
) -> Callable[[int], tuple[str, str, dict[str, Any] | None]]:
    send_at = future_send_at()

    def make(n: int) -> tuple[str, str, dict[str, Any] | None]:
        if endpoint == "get":
            return "GET", f"/feedback_requests/{secrets.choice(fixture.seeded_ids)}", None
        if endpoint == "list":
            return "GET", LIST_PATH, None
        if endpoint == "responses":
            return "GET", RESPONSES_PATH, None
        body = request_body(fixture.write_survey_id, f"{prefix}-{n}@example.com", n, send_at)
        return "POST", "/feedback_requests", body

    return make


async def _httpx_load(
    server: Server,
    token: str,
    make: Callable[[int], tuple[str, str, dict[str, Any] | None]],
    seconds: float,
    connections: int,
) -> Measurement:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    latencies: list[float] = []
    errors = 0
    counter = 0
    async with httpx.AsyncClient(
        base_url=server.base, headers=headers_for(token), limits=limits, timeout=10
    ) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            nonlocal errors, counter
            while time.perf_counter() < deadline:
                counter += 1
                method, path, body = make(counter)
                t0 = time.perf_counter()
                try:
                    r = await client.request(method, path, json=body)
                    if r.status_code >= 400:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else 0
        )

    return Measurement(len(latencies) / elapsed, pct(0.50), pct(0.99), len(latencies), errors)


# ---------------------------------------------------------------- the run


@dataclasses.dataclass
class Options:
    backends: list[str]
    workers: list[int]
    endpoints: list[str]
    duration: float
    warmup: float
    connections: int
    threads: int
    seed: int
    pg_url: str
    pg_url_from_env: str | None
    sqlite_driver: str
    load: str
    rounds: int
    write: bool
    no_dispatcher: bool
    nice: int
    argv: list[str]


def measure(
    opts: Options,
    server: Server,
    endpoint: str,
    fixture: Fixture,
    tmp: Path,
    warm_up: bool = True,
) -> Measurement:
    """Warm up (unless told not to), then one measured run."""
    prefix = f"{server.name}-{secrets.token_hex(3)}"
    if opts.load == "wrk":
        script = tmp / f"{server.name}-{endpoint}.lua"
        script.write_text(wrk_script(endpoint, fixture, prefix))
        if warm_up and opts.warmup > 0:
            run_wrk(server, script, opts.warmup, opts.connections, opts.threads)
        before = Usage.take(server.proc.pid)
        m = run_wrk(server, script, opts.duration, opts.connections, opts.threads)
        account(m, before, Usage.take(server.proc.pid))
        return m
    token = fixture.write_token if endpoint == "post" else fixture.read_token
    make = httpx_requests(endpoint, fixture, prefix)
    if warm_up and opts.warmup > 0:
        asyncio.run(_httpx_load(server, token, make, opts.warmup, opts.connections))
    before = Usage.take(server.proc.pid)
    m = asyncio.run(_httpx_load(server, token, make, opts.duration, opts.connections))
    # The load loop runs in this process: its CPU counts as other load here.
    account(m, before, Usage.take(server.proc.pid))
    return m


def median(runs: list[Measurement]) -> Measurement:
    """The run with the median req/s (the lower middle one for an even count)."""
    return sorted(runs, key=lambda m: m.rps)[(len(runs) - 1) // 2]


def run_backend(
    opts: Options, backend: str, tmp: Path, info: dict[str, str], no_dispatcher: bool
) -> list[Result]:
    results: list[Result] = []
    with fresh_database(backend, tmp, opts.pg_url) as url:
        if backend == "postgresql":
            info["PostgreSQL"] = asyncio.run(_pg_version(url))
        log(f"{backend}: fresh database, migrating and creating accounts through the CLI")
        fixture = create_fixture(url, tmp)
        for workers in opts.workers:
            servers: list[Server] = []
            try:
                opensure = start_opensure(url, workers, tmp, no_dispatcher)
                servers.append(opensure)
                baseline = start_baseline(url, workers, tmp, opts.sqlite_driver)
                servers.append(baseline)
                opensure.wait_ready(fixture.read_token)
                baseline.wait_ready(fixture.read_token)
                if not fixture.seeded_ids:
                    seed(opensure, fixture, opts.seed)
                    seed_responses(url, fixture)
                check_same_answers(opensure, baseline, fixture)
                for endpoint in opts.endpoints:
                    runs: dict[str, list[Measurement]] = {"opensure": [], "baseline": []}
                    for n in range(opts.rounds):
                        # Warmed up once: later rounds find both servers warm.
                        for name, server in (("opensure", opensure), ("baseline", baseline)):
                            runs[name].append(
                                measure(opts, server, endpoint, fixture, tmp, warm_up=n == 0)
                            )
                    for name, server in (("opensure", opensure), ("baseline", baseline)):
                        if any(m.errors for m in runs[name]):
                            log(f"{name} answered with errors; the end of its log:")
                            print(server.log_tail(12), file=sys.stderr)
                    o, b = median(runs["opensure"]), median(runs["baseline"])
                    result = Result(backend, workers, endpoint, o, b, runs)
                    results.append(result)
                    log(
                        f"{backend} workers={workers} {ENDPOINTS[endpoint]}: "
                        f"opensure {o.rps:.0f} req/s (p50 {o.p50_ms:.1f} ms, p99 "
                        f"{o.p99_ms:.1f} ms), baseline {b.rps:.0f} req/s (p50 {b.p50_ms:.1f} ms, "
                        f"p99 {b.p99_ms:.1f} ms), ratio {result.ratio:.0%}"
                    )
            finally:
                for server in reversed(servers):
                    server.stop()
    return results


# ---------------------------------------------------------------- reporting


def git_revision() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "unknown"
    return head + (" with uncommitted changes" if git("status", "--porcelain") else "")


def versions(opts: Options) -> dict[str, str]:
    info: dict[str, str] = {}
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info["CPU"] = f"{cpu}, {os.cpu_count()} cores"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        info["memory"] = f"{kb / 1024 / 1024:.1f} GiB"
    info["OS"] = f"{platform.system()} {platform.release()}"
    info["Python"] = platform.python_version()
    packages = ["fastapi", "starlette", "sqlalchemy", "uvicorn", "uvloop", "httptools"]
    packages += ["asyncpg", "aiosqlite", "orjson"]
    found = []
    for name in packages:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{name} {importlib.metadata.version(name)}")
    info["packages"] = ", ".join(found)
    info["SQLite"] = sqlite3.sqlite_version
    if opts.load == "wrk":
        done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        first = (done.stdout or done.stderr).splitlines()
        info["load generator"] = first[0].split(" Copyright")[0].strip() if first else "wrk"
    else:
        info["load generator"] = f"httpx {importlib.metadata.version('httpx')} (asyncio loop)"
    info["OpenSure"] = f"{git_revision()}"
    with contextlib.suppress(OSError):
        info["load average at start"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return info


def command_line(opts: Options) -> str:
    prefix = ""
    if "postgresql" in opts.backends and opts.pg_url_from_env:
        prefix = f"{opts.pg_url_from_env}={shlex.quote(opts.pg_url)} "
    return f"{prefix}.venv/bin/python -m bench.api {shlex.join(opts.argv)}".rstrip()


def ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def cpu_cell(m: Measurement) -> str:
    return "—" if m.cpu_ms is None else f"{m.cpu_ms:.2f}"


def table(results: list[Result]) -> str:
    head = (
        "| backend | workers | endpoint | OpenSure req/s | p50 ms | p99 ms | CPU ms/req "
        "| baseline req/s | p50 ms | p99 ms | CPU ms/req | ratio | target |\n"
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    rows = []
    for r in results:
        if r.target is None:
            target = "—"
        else:
            target = f"≥ {r.target:.0%}: " + ("met" if r.met else "**missed**")
        errors = ""
        if r.opensure.errors or r.baseline.errors:
            errors = f" (errors: {r.opensure.errors} / {r.baseline.errors})"
        o, b = r.opensure, r.baseline
        rows.append(
            f"| {r.backend} | {r.workers} | `{ENDPOINTS[r.endpoint]}`{errors} "
            f"| {o.rps:,.0f} | {ms(o.p50_ms)} | {ms(o.p99_ms)} | {cpu_cell(o)} "
            f"| {b.rps:,.0f} | {ms(b.p50_ms)} | {ms(b.p99_ms)} | {cpu_cell(b)} "
            f"| {r.ratio:.1%} | {target} |"
        )
    return head + "\n".join(rows) + "\n"


def verdict(results: list[Result]) -> str:
    lines = []
    for endpoint, share in TARGETS.items():
        runs = [r for r in results if r.endpoint == endpoint]
        if not runs:
            continue
        met = [r for r in runs if r.met]
        worst = min(runs, key=lambda r: r.ratio)
        state = "**met**" if len(met) == len(runs) else "**missed**"
        lines.append(
            f"- `{ENDPOINTS[endpoint]}` ≥ {share:.0%} of the baseline: {state} (met in "
            f"{len(met)} of {len(runs)} configurations; lowest: {worst.ratio:.1%}, "
            f"{worst.backend}, {worst.workers} worker{'s' if worst.workers > 1 else ''})."
        )
    return "\n".join(lines) + "\n"


def noise(results: list[Result]) -> str:
    others = [
        m.other_cores
        for r in results
        for runs in r.runs.values()
        for m in runs
        if m.other_cores is not None
    ]
    if not others:
        return ""
    mean = sum(others) / len(others)
    text = (
        f"Noise: processes other than the servers, wrk and PostgreSQL kept {mean:.2f} of the "
        f"{os.cpu_count()} cores busy on average during the measurements (at most "
        f"{max(others):.2f}); PostgreSQL's work for other databases on the same server is not "
        "counted here."
    )
    if max(others) > 0.25:
        text += (
            " That is noise: absolute req/s are lower than on a quiet machine; OpenSure and "
            "the baseline ran back to back, so the ratios suffer less."
        )
    return textwrap.fill(text, width=96) + "\n"


def report(opts: Options, results: list[Result], info: dict[str, str], started: str) -> str:
    machine = "\n".join(f"- {k}: {v}" for k, v in info.items())
    threads = f"{opts.threads} thread{'s' if opts.threads > 1 else ''}"
    loadgen = (
        f"wrk, {threads}, {opts.connections} connections"
        if opts.load == "wrk"
        else f"an httpx asyncio loop with {opts.connections} concurrent requests"
    )
    serve_extra = " --no-dispatcher" if opts.no_dispatcher else ""
    driver = "aiosqlite" if opts.sqlite_driver == "aiosqlite" else "the stdlib sqlite3 module"
    rounds = (
        f"; {opts.rounds} rounds, alternating, and the run with the median req/s is shown"
        if opts.rounds > 1
        else ""
    )
    if opts.nice:
        rounds += f"; the servers and wrk ran at niceness {opts.nice} (PostgreSQL at its own)"
    load_text = textwrap.fill(
        f"Load: {loadgen}, HTTP/1.1 keep-alive; {opts.warmup:g} s warm-up, then "
        f"{opts.duration:g} s measured, OpenSure then baseline for each endpoint{rounds}. "
        f"Everything runs on one machine with {os.cpu_count()} cores: the load generator (one "
        "wrk thread takes most of a core), the servers and PostgreSQL compete for them, so "
        "absolute figures are lower than on a dedicated server and a second worker adds "
        "little; the ratio is the figure to compare. A fresh SQLite file (WAL) and a fresh "
        f"PostgreSQL database are made for each run. Run on {started}.",
        width=96,
    )
    return f"""## What is measured

Requests per second and median / 99th-percentile latency of four endpoints, on loopback
(127.0.0.1), with 1 and 2 worker processes, on SQLite and PostgreSQL:

- `{ENDPOINTS["get"]}`: a random one of {opts.seed:,} seeded requests (2 data items each);
- `{ENDPOINTS["post"]}`: a new pending request with 2 data items and `send_at` 30 days ahead;
- `{ENDPOINTS["list"]}`: the first page of the seeded account;
- `{ENDPOINTS["responses"]}`: the first page of {RESPONSES} responses (written straight to the
  database, one per seeded request, every question of the survey answered), each with its
  answers and its request (with items) embedded.

Each OpenSure figure (`opensure serve --workers N --no-access-log --no-demo{serve_extra}`)
comes with a baseline measured in the same run, on the same database and with the same worker
count: `bench/baseline_app.py`, bare Starlette (no FastAPI, no SQLAlchemy) with asyncpg on
PostgreSQL (a pool of up to 30 connections per worker, more than OpenSure's 20 of which its
hot paths use 10, that closes idle ones after a second so that both apps fit in PostgreSQL's
connection limit) and {driver} on SQLite,
under uvicorn and the supervisor `opensure serve` uses (a listening socket per worker, so
both spread connections over their workers alike). The baseline reads OpenSure's own tables with
hand-written SQL and answers with the same JSON (checked before measuring): one SELECT for GET
by id; COUNT + page + items for the list; COUNT + page + answers + requests with their items
for the responses list; for POST one transaction inserting the request and
its items with `INSERT … RETURNING`, without OpenSure's survey-ownership check and
staff/site/segment lookup (one more statement in OpenSure's transaction).
**ratio** = OpenSure req/s ÷ baseline req/s.
OpenSure runs with `OPENSURE_RATE_LIMIT={RATE_LIMIT}` so that its per-token rate limit (5,000
requests an hour by default) never answers 429; the limiter still counts every request.
**CPU ms/req**: CPU time of the server's processes (every worker and thread) per request;
PostgreSQL's own is not included.

{load_text}

## Machine

{machine}

## Reproduce

```sh
{command_line(opts)}
```

(`--quick` measures 3 s; `--backend`, `--workers`, `--endpoint` select a subset; `--rounds N`
repeats each pair of measurements; `--help` lists the rest.)

## Results

{table(results)}
{noise(results)}
## Targets

{verdict(results)}"""


def write_doc(text: str) -> None:
    block = f"{BEGIN_MARK}\n{text.rstrip()}\n{END_MARK}"
    old = DOC.read_text() if DOC.exists() else ""
    if BEGIN_MARK in old and END_MARK in old:
        before, rest = old.split(BEGIN_MARK, 1)
        after = rest.split(END_MARK, 1)[1]
        new = before + block + after
    else:
        new = (
            "# Benchmarks\n\n"
            "<!-- The part between the bench markers is written by "
            "`python -m bench.api --write`; text outside them is kept. -->\n\n"
            f"{block}\n"
        )
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(new)
    log(f"wrote {DOC.relative_to(REPO)}")


def save_json(opts: Options, results: list[Result], info: dict[str, str], started: str) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"api-{started.replace(':', '').replace(' ', '-')}.json"
    data = {
        "started": started,
        "command": command_line(opts),
        "machine": info,
        "results": [
            {**dataclasses.asdict(r), "ratio": r.ratio, "target": r.target, "met": r.met}
            for r in results
        ],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


# ---------------------------------------------------------------- command line


def parse_list(value: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(f"{what}: choose from {', '.join(allowed)}")
    return items


def parse_args(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(
        prog="python -m bench.api",
        description="Benchmark OpenSure's feedback request endpoints against a bare baseline.",
    )
    p.add_argument(
        "--backend",
        default=",".join(BACKENDS),
        type=lambda v: parse_list(v, BACKENDS, "--backend"),
        help="comma list of sqlite, postgresql (default: both)",
    )
    p.add_argument(
        "--workers",
        default="1,2",
        type=lambda v: [int(x) for x in v.split(",") if x.strip()],
        help="comma list of worker counts (default: 1,2)",
    )
    p.add_argument(
        "--endpoint",
        default=",".join(ENDPOINTS),
        type=lambda v: parse_list(v, tuple(ENDPOINTS), "--endpoint"),
        help="comma list of get, post, list, responses (default: all)",
    )
    p.add_argument("--duration", type=float, default=10.0, help="seconds measured (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up (default 2)")
    p.add_argument("--quick", action="store_true", help="3 s measurements after 1 s warm-up")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections (32)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    p.add_argument("--seed", type=int, default=1000, help="feedback requests to seed (1000)")
    p.add_argument(
        "--postgres-url",
        default=None,
        help=f"a PostgreSQL server to create the benchmark database on "
        f"(default: ${PG_ENV[0]}, ${PG_ENV[1]} or {DEFAULT_PG_URL})",
    )
    p.add_argument(
        "--sqlite-driver",
        choices=("aiosqlite", "sqlite3"),
        default="aiosqlite",
        help="the baseline's SQLite driver (default aiosqlite, like OpenSure)",
    )
    p.add_argument(
        "--load",
        choices=("wrk", "httpx"),
        default=None,
        help="load generator (default: wrk when installed, else httpx)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure each OpenSure/baseline pair N times, alternating; report the median",
    )
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the servers and wrk at this niceness (e.g. -10 on a shared machine; root)",
    )
    p.add_argument("--write", action="store_true", help="write the results into docs/benchmarks.md")
    a = p.parse_args(argv)
    if any(w < 1 for w in a.workers) or not a.workers:
        p.error("--workers: positive integers")
    if a.quick:
        a.duration, a.warmup = 3.0, 1.0
    if a.threads < 1 or a.connections < a.threads:
        p.error("--threads must be ≥ 1 and ≤ --connections")
    load = a.load or ("wrk" if shutil.which("wrk") else "httpx")
    if load == "wrk" and not shutil.which("wrk"):
        p.error("wrk is not installed (apt-get install wrk), or use --load httpx")
    env_name = next((name for name in PG_ENV if os.environ.get(name)), None)
    pg_url = a.postgres_url or (os.environ[env_name] if env_name else DEFAULT_PG_URL)
    return Options(
        backends=a.backend,
        workers=a.workers,
        endpoints=a.endpoint,
        duration=a.duration,
        warmup=a.warmup,
        connections=a.connections,
        threads=a.threads,
        seed=a.seed,
        pg_url=pg_url,
        pg_url_from_env=env_name if not a.postgres_url else None,
        sqlite_driver=a.sqlite_driver,
        load=load,
        rounds=max(1, a.rounds),
        write=a.write,
        no_dispatcher=False,
        nice=a.nice,
        argv=list(argv),
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    global NICE
    NICE = opts.nice
    if "postgresql" in opts.backends:
        problem = pg_reachable(opts.pg_url)
        if problem:
            explicit = "--backend" in " ".join(opts.argv)
            log(f"PostgreSQL at {make_url(opts.pg_url)!r} is not reachable: {problem}")
            if explicit:
                return 2
            log("skipping PostgreSQL (select it with --backend to make this an error)")
            opts.backends = [b for b in opts.backends if b != "postgresql"]
    if opts.load == "httpx":
        log("wrk not found: using the httpx load loop (it needs far more CPU than wrk)")
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = versions(opts)
    opts.no_dispatcher = serve_supports_no_dispatcher()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="opensure-bench-") as tmp:
        for backend in opts.backends:
            results += run_backend(opts, backend, Path(tmp), info, opts.no_dispatcher)
    text = report(opts, results, info, started)
    print(text)
    save_json(opts, results, info, started)
    if opts.write:
        write_doc(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
