"""Dispatch throughput: N due requests → emails into an SMTP sink, against the raw SMTP limit.

    .venv/bin/python -m bench.dispatch [--n 20000] [--connections 8] [--rounds 3]
        [--backend sqlite|postgresql]

Both sides send to the same aiosmtpd sink (a separate process that discards messages) over the
same number of connections:
- raw: aiosmtplib sending N pre-rendered messages (bytes), no database at all: the very emails
  the dispatcher sends for the seeded requests, rendered beforehand by its own code, to the same
  recipients. For comparison, also the small hand-made messages (about 0.6 KB instead of 8 KB)
  this benchmark used to send.
- opensure: an `opensure dispatcher` process, as in production (its own process, its log on),
  claiming, rendering, sending and recording the N seeded requests; timed from its "started"
  log line until no request is pending any more (looked for every 50 ms).
Each round seeds a fresh database and starts a fresh sink, then runs the raw side, the
dispatcher and the raw side again; a round's ratio is the mean of its two raw times over the
dispatcher's, and the ratio reported is the median of the rounds' ratios (on a shared 2-core
machine the raw side alone moves by ±20 % from one minute to the next). Each round also prints
the CPU per e-mail of the sender, the sink and PostgreSQL (every PostgreSQL process, from
/proc), and the time the host took from this machine (steal): those move less than the rates.
Also the latency from POST /feedback_requests (send_at now) to the message's arrival, through a
real `opensure serve` process with its embedded dispatcher.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import secrets
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
from sqlalchemy import func, insert, select

from bench.harness import (
    OPENSURE,
    SURVEY,
    Sink,
    api_headers,
    create_account,
    create_database,
    drop_database,
    free_port,
    opensure_env,
    wait_port,
)
from opensure.accounts import service as admin
from opensure.config import Settings
from opensure.core.runtime import run_event_loop
from opensure.db import create_engine
from opensure.db.migrate import upgrade
from opensure.dispatch import repository as repo
from opensure.dispatch.worker import Dispatcher
from opensure.models import FeedbackRequest
from opensure.surveys import importer

SENDER = "feedback@localhost"


async def fresh_db(backend: str, tmp: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp}/bench-{secrets.token_hex(3)}.db"
    return await create_database("bench_dispatch")


async def drop_db(url: str) -> None:
    if url.startswith("postgresql"):
        await drop_database(url)


async def seed(url: str, n: int) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    async with engine.begin() as conn:
        account = await admin.create_account(conn, f"Bench {secrets.token_hex(3)}")
        survey = await importer.import_survey(conn, account["id"], SURVEY)
        now = dt.datetime.now(dt.UTC)
        rows = [
            {
                "account_id": account["id"],
                "survey_id": survey["id"],
                "email": f"customer{i}@example.com",
                "first_name": f"Customer{i}",
                "state": "pending",
                "send_at": now - dt.timedelta(seconds=n - i),
                "token": secrets.token_urlsafe(24),
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n)
        ]
        for start in range(0, n, 5000):
            await conn.execute(insert(FeedbackRequest.__table__), rows[start : start + 5000])
    await engine.dispose()


def small_messages(n: int) -> list[tuple[str, bytes]]:
    """Hand-made short messages (what this benchmark's raw side sent before it sent the
    dispatcher's own emails): about 0.6 KB each."""
    out = []
    for i in range(n):
        m = EmailMessage()
        m["Subject"] = f"Customer{i}, how did we do?"
        m["From"] = "feedback@localhost"
        m["To"] = f"customer{i}@example.com"
        m["Message-ID"] = f"<raw-{i}@localhost>"
        m.set_content(
            f"Hi Customer{i},\n\nhttp://127.0.0.1:8000/s/abc?t={secrets.token_urlsafe(24)}\n"
        )
        m.add_alternative("<p>Hi</p>", subtype="html")
        out.append((f"customer{i}@example.com", m.as_bytes()))
    return out


def dispatcher_settings(url: str, port: int, connections: int) -> dict[str, str]:
    return {
        "database_url": url,
        "mail_url": f"smtp://127.0.0.1:{port}",
        "public_url": "http://127.0.0.1:8000",
        "mail_from": SENDER,
        "smtp_connections": str(connections),
        "dispatch_batch_size": "500",
    }


async def dispatcher_messages(values: dict[str, str]) -> list[tuple[str, bytes]]:
    """The seeded requests' emails as the dispatcher renders them (its own code, same settings),
    with their recipients, oldest first."""
    engine = create_engine(values["database_url"])
    dispatcher = Dispatcher(engine, Settings(**values))  # type: ignore[arg-type]
    fr = FeedbackRequest.__table__
    async with engine.connect() as conn:
        ids = list((await conn.execute(select(fr.c.id))).scalars())
        rows = await repo.load(conn, ids)
        first = await repo.first_questions(conn, {row.survey_id for row in rows})
    await engine.dispose()
    out = []
    for row in rows:
        # The same e-mail the dispatcher sends: with the one-click scale when the survey has one.
        content = dispatcher.content_for(row, [], first.get(row.survey_id))
        out.append((content.to, dispatcher.message_for(row, content).as_bytes()))
    return out


async def raw_send(
    port: int, messages: list[tuple[str, bytes]], connections: int, sender: str
) -> float:
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in messages:
        queue.put_nowait(item)

    async def worker() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await smtp.connect()
        while not queue.empty():
            recipient, message = queue.get_nowait()
            await smtp.sendmail(sender, [recipient], message)
        await smtp.quit()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - start


def _seconds(stat: str, *, children: bool = False) -> float:
    """User and system time in a /proc/PID/stat line (with ``children``, also that of its
    ended children)."""
    fields = stat.rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11 : 15 if children else 13]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system), from /proc."""
    return _seconds(Path(f"/proc/{pid}/stat").read_text())


def postgres_cpu() -> float:
    """CPU time so far of every PostgreSQL process on this machine (background workers such as
    autovacuum and the checkpointer included), and of those that have ended: a backend's time
    goes to the postmaster's children's time when it exits."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        if "(postgres)" in text:
            total += _seconds(text, children=True)
    return total


def steal() -> float:
    """Seconds this machine's CPUs were taken by the host for others so far (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


async def opensure_send(values: dict[str, str], n: int, tmp: Path) -> tuple[float, float]:
    """Run `opensure dispatcher` until all n seeded requests are sent; the seconds it took and
    the CPU seconds it used meanwhile."""
    engine = create_engine(values["database_url"])
    fr = FeedbackRequest.__table__
    # Whether any is pending, not how many: a count of 20,000 rows every 50 ms cost PostgreSQL
    # 2-3 ms each time (5 % of a core, taken from the dispatcher under test); this probe
    # stops at the first pending row of the state index.
    pending = select(select(fr.c.id).where(fr.c.state == "pending").exists())
    log = tmp / f"dispatcher-{secrets.token_hex(3)}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [OPENSURE, "dispatcher"], env=opensure_env(**values), stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while b" started" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dispatcher did not start:\n{log.read_text()}")
            await asyncio.sleep(0.002)
        start = time.perf_counter()
        cpu = cpu_seconds(proc.pid)
        while True:
            await asyncio.sleep(0.05)
            async with engine.connect() as conn:
                left = await conn.scalar(pending)
            if not left:
                elapsed = time.perf_counter() - start
                cpu = cpu_seconds(proc.pid) - cpu
                break
            if proc.poll() is not None:
                raise RuntimeError(f"the dispatcher exited:\n{log.read_text()[-3000:]}")
        async with engine.connect() as conn:
            states = dict(
                (await conn.execute(select(fr.c.state, func.count()).group_by(fr.c.state))).all()
            )
        if states != {"sent": n}:
            raise RuntimeError(f"not every request was sent: {states}")
        return elapsed, cpu
    finally:
        proc.terminate()
        proc.wait(30)
        await engine.dispose()


def latency(url: str, samples: int, tmp: Path) -> tuple[float, float]:
    """POST with send_at now → arrival at the SMTP sink, through a real server process."""
    arrivals = tmp / f"arrivals-{secrets.token_hex(3)}.log"
    sink = Sink(record_to=arrivals)
    port = free_port()
    env = opensure_env(
        database_url=url,
        mail_url=f"smtp://127.0.0.1:{sink.port}",
        public_url=f"http://127.0.0.1:{port}",
    )
    account, survey = create_account(env, tmp, name="Lat")
    server = subprocess.Popen(
        [OPENSURE, "serve", "--port", str(port), "--no-access-log", "--no-demo"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        headers = api_headers(account["token"])
        sent_at: dict[int, float] = {}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            for i in range(samples):
                now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                t0 = time.time()
                r = client.post(
                    "/feedback_requests",
                    json={
                        "email": f"lat{i}@example.com",
                        "send_at": now,
                        "survey_id": survey["id"],
                    },
                )
                r.raise_for_status()
                sent_at[r.json()["id"]] = t0
                time.sleep(0.05)
        deadline = time.monotonic() + 30
        seen: dict[int, float] = {}
        while time.monotonic() < deadline and len(seen) < samples:
            time.sleep(0.2)
            for line in arrivals.read_text().splitlines() if arrivals.exists() else []:
                stamp, mid = line.split(" ", 1)
                request_id = int(mid.split("feedback-request-")[1].split(".")[0])
                seen[request_id] = float(stamp)
        delays = sorted(seen[i] - sent_at[i] for i in sent_at if i in seen)
        if len(delays) < samples:
            raise RuntimeError(f"only {len(delays)} of {samples} emails arrived")
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        return statistics.median(delays), p99
    finally:
        server.terminate()
        server.wait(20)
        sink.stop()


@dataclass
class Side:
    """One side of a round: its seconds, and the CPU seconds used meanwhile by its sender,
    the sink and PostgreSQL, and taken by the host (steal)."""

    seconds: float
    sender_cpu: float
    sink_cpu: float
    postgres_cpu: float
    steal: float

    @classmethod
    def measured(
        cls, seconds: float, sender_cpu: float, before: tuple[float, ...], after: tuple[float, ...]
    ) -> Side:
        """A side from the snapshots (``_others``) taken before and after it."""
        return cls(seconds, sender_cpu, *(a - b for a, b in zip(after, before, strict=True)))

    def per_email(self, n: int) -> str:
        us = 1e6 / n
        return (
            f"sender {self.sender_cpu * us:.0f} µs, sink {self.sink_cpu * us:.0f} µs, "
            f"PostgreSQL {self.postgres_cpu * us:.0f} µs, steal {self.steal * us:.0f} µs"
        )


@dataclass
class Round:
    """The raw side before and after the dispatcher, and the dispatcher."""

    raw: Side
    ours: Side
    raw_after: Side

    @property
    def raw_seconds(self) -> float:
        # The mean of the raw runs on either side of the dispatcher's: a machine that gets
        # faster or slower during the round moves both sides of the ratio alike.
        return (self.raw.seconds + self.raw_after.seconds) / 2

    @property
    def ratio(self) -> float:
        return self.raw_seconds / self.ours.seconds


def _others(sink: Sink) -> tuple[float, float, float]:
    """What a side measures besides its own sender, so far: the sink's CPU, PostgreSQL's and
    the host's steal time."""
    return cpu_seconds(sink.pid), postgres_cpu(), steal()


async def one_round(backend: str, n: int, connections: int, tmp: Path) -> Round:
    """One round on a freshly seeded database and a fresh sink: the raw side sending the
    dispatcher's own emails, then the dispatcher, then the raw side again; the seconds and CPU
    seconds each took."""
    url = await fresh_db(backend, tmp)
    try:
        await seed(url, n)
        sink = Sink()
        try:
            values = dispatcher_settings(url, sink.port, connections)
            same = await dispatcher_messages(values)

            async def raw_side() -> Side:
                before, cpu = _others(sink), time.process_time()
                seconds = await raw_send(sink.port, same, connections, values["mail_from"])
                after, cpu = _others(sink), time.process_time() - cpu
                return Side.measured(seconds, cpu, before, after)

            raw = await raw_side()
            before = _others(sink)
            ours_s, cpu = await opensure_send(values, n, tmp)
            after = _others(sink)
            ours = Side.measured(ours_s, cpu, before, after)
            raw_after = await raw_side()
        finally:
            sink.stop()
    finally:
        await drop_db(url)
    return Round(raw, ours, raw_after)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        small = small_messages(args.n)
        for backend in args.backend:
            # Raw and dispatcher alternate, a pair per round: on a shared machine both sides of
            # a ratio then see the same load, and the median of the rounds' ratios is reported.
            pairs: list[Round] = []
            for _ in range(args.rounds):
                r = await one_round(backend, args.n, args.connections, tmp)
                pairs.append(r)
                # CPU per e-mail: steadier than the rates on a shared machine, and where the
                # sender's own cost shows.
                print(
                    f"{backend} round {len(pairs)}: opensure {args.n / r.ours.seconds:,.0f}/s, "
                    f"raw {args.n / r.raw.seconds:,.0f}/s before and "
                    f"{args.n / r.raw_after.seconds:,.0f}/s after, ratio {r.ratio:.0%}; CPU per "
                    f"e-mail, opensure: {r.ours.per_email(args.n)}; raw: "
                    f"{r.raw.per_email(args.n)}",
                    flush=True,
                )
            ratio = statistics.median(r.ratio for r in pairs)
            sink = Sink()
            try:
                small_s = await raw_send(sink.port, small, args.connections, SENDER)
            finally:
                sink.stop()
            url = await fresh_db(backend, tmp)
            try:
                engine = create_engine(url)
                await upgrade(engine)
                await engine.dispose()
                p50, p99 = latency(url, args.latency_samples, tmp)
            finally:
                await drop_db(url)
            ours = statistics.median(args.n / r.ours.seconds for r in pairs)
            raw = statistics.median(args.n / r.raw_seconds for r in pairs)
            size = statistics.mean(len(m) for _, m in small)
            results.append(
                {
                    "backend": backend,
                    "raw": raw,
                    "small": args.n / small_s,
                    "ours": ours,
                    "ratio": ratio,
                    "ratios": [r.ratio for r in pairs],
                    "cpu": statistics.median(r.ours.sender_cpu for r in pairs) * 1e6 / args.n,
                    "raw_cpu": statistics.median(r.raw.sender_cpu for r in pairs) * 1e6 / args.n,
                    "small_size": size,
                    "p50": p50,
                    "p99": p99,
                }
            )
            print(
                f"{backend}: opensure {ours:,.0f}/s, raw {raw:,.0f}/s (medians of "
                f"{len(pairs)} rounds), ratio {ratio:.0%} (median; rounds: "
                f"{', '.join(f'{x:.0%}' for x in results[-1]['ratios'])}); CPU per e-mail "
                f"(median): dispatcher {results[-1]['cpu']:.0f} µs, raw sender "
                f"{results[-1]['raw_cpu']:.0f} µs; raw with "
                f"{size / 1000:.1f} KB messages {args.n / small_s:,.0f}/s; "
                f"latency p50 {p50 * 1000:.0f} ms p99 {p99 * 1000:.0f} ms",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--latency-samples", type=int, default=50)
    parser.add_argument(
        "--rounds", type=int, default=3, help="raw/dispatcher pairs, alternating (median)"
    )
    args = parser.parse_args()
    args.backend = args.backend or ["sqlite", "postgresql"]
    # The raw side runs on the dispatcher's event loop (uvloop: core.runtime.run_event_loop),
    # like against like.
    results = run_event_loop(run(args))
    print()
    print(
        "| backend | opensure emails/s | raw aiosmtplib emails/s (same emails) | ratio "
        "| raw, small messages | ratio to it | POST→arrival p50 | p99 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['backend']} | {r['ours']:,.0f} | {r['raw']:,.0f} | {r['ratio']:.0%} "
            f"| {r['small']:,.0f} | {r['ours'] / r['small']:.0%} "
            f"| {r['p50'] * 1000:.0f} ms | {r['p99'] * 1000:.0f} ms |"
        )


if __name__ == "__main__":
    main()
