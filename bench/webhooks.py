"""Webhook throughput: N events in the outbox → POSTs to a receiver, against the raw HTTP limit.

    .venv/bin/python -m bench.webhooks [--n 5000] [--concurrency 8] [--backend sqlite|postgresql]

Both sides POST to the same receiver (uvicorn + a bare ASGI app in its own process on
127.0.0.1, answering 200 to every POST and counting them) over the same number of concurrent
connections:
- raw: an httpx.AsyncClient posting the N bodies with the same header shape (content-type,
  user-agent, webhook-id, -timestamp, -signature), no database at all.
- opensure: an `opensure dispatcher` process, as in production (its log on,
  OPENSURE_WEBHOOK_CONCURRENCY = --concurrency), claiming, signing, POSTing and recording the
  N events seeded into the outbox of a fresh database (one account, one endpoint at the
  receiver made by `webhooks.service.create_endpoint(..., allow_private_network=True)`, bodies
  written by `stores.webhooks.insert`: feedback_response.created with a response shaped as
  GET /feedback_responses/{id} returns it); timed from its "started" log line until no event
  is undelivered (polled every 50 ms).
Also the latency from a survey answered (POST /s/{code} on a real `opensure serve` with its
embedded dispatcher) to the arrival of its feedback_response.created event at the receiver,
one answer at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.harness import (
    OPENSURE,
    ROOT,
    cpu_seconds,
    create_account,
    create_database,
    drop_database,
    free_port,
    opensure_env,
    wait_port,
)
from opensure.accounts import service as admin
from opensure.core import webhooks as rules
from opensure.core.clock import utcnow
from opensure.db import create_engine
from opensure.db.fast import SaSession
from opensure.db.migrate import upgrade
from opensure.models.webhooks import WebhookEvent
from opensure.stores import webhooks as outbox
from opensure.webhooks import service as webhooks

EVENT = "feedback_response.created"


# --- the receiver (its own process) -----------------------------------------------------------


class Receiver:
    """uvicorn serving a bare ASGI app on 127.0.0.1: 200 to every POST, counted; GET / answers
    the count. With ``record_to`` it appends one line per POST: arrival time and body size."""

    def __init__(self, record_to: Path | None = None) -> None:
        self.port = free_port()
        args = [sys.executable, "-m", "bench.webhooks", "receive", str(self.port)]
        if record_to is not None:
            args.append(str(record_to))
        self.proc = subprocess.Popen(args, cwd=ROOT)
        wait_port(self.port)
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def count(self) -> int:
        return int(httpx.get(f"http://127.0.0.1:{self.port}/", trust_env=False).text)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def receive_main(argv: list[str]) -> None:
    import uvicorn

    port = int(argv[0])
    out = open(argv[1], "a", buffering=1) if len(argv) > 1 else None  # noqa: SIM115
    count = 0

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal count
        if scope["type"] != "http":
            return
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        if scope["method"] == "POST":
            count += 1
            if out is not None:
                out.write(f"{time.time()} {size}\n")
            body = b"ok"
        else:
            body = str(count).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, http="httptools"
    )


# --- seeding ----------------------------------------------------------------------------------


async def fresh_db(backend: str, tmp: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp}/bench-{secrets.token_hex(3)}.db"
    return await create_database("bench_webhooks")


async def drop_db(url: str) -> None:
    if url.startswith("postgresql"):
        await drop_database(url)


def response_data(i: int) -> dict[str, Any]:
    """A feedback response as GET /feedback_responses/{id} shows it (about 1 KB as JSON)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": 100_000 + i,
        "survey_id": 1,
        "feedback_request_id": 200_000 + i,
        "email": f"customer{i}@example.com",
        "name": f"Customer{i} Example",
        "reference": f"ORDER-{i:06d}",
        "machine_id": f"crm-{i}",
        "staff_id": None,
        "submitted_at": now,
        "updated_at": now,
        "data_fields": {"plan": "business", "region": "eu-west", "source": "checkout"},
        "answers": [
            {"question_id": 1, "question": "How likely are you to recommend us?", "value": "9"},
            {"question_id": 2, "question": "How satisfied were you?", "value": "4"},
            {"question_id": 3, "question": "Which product did you use?", "value": "Web"},
            {"question_id": 4, "question": "Was your issue solved?", "value": "Yes"},
            {"question_id": 5, "question": "What did you like?", "value": "Price, Speed"},
            {
                "question_id": 6,
                "question": "Anything else?",
                "value": "Quick and friendly; the second call was answered within a minute.",
            },
        ],
        "nps": 9,
    }


async def seed(url: str, n: int, receiver_url: str) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    async with engine.begin() as conn:
        account = await admin.create_account(conn, f"Bench {secrets.token_hex(3)}")
        endpoint = await webhooks.create_endpoint(
            conn, account["id"], url=receiver_url, allow_private_network=True
        )
        session = SaSession(conn)
        now = utcnow()
        for start in range(0, n, 1000):
            batch = [
                (endpoint["id"], EVENT, response_data(i))
                for i in range(start, min(n, start + 1000))
            ]
            await outbox.insert(session, batch, now)
    await engine.dispose()


async def seeded(url: str) -> list[str]:
    """The bodies of the seeded events, as stored (and sent)."""
    engine = create_engine(url)
    async with engine.connect() as conn:
        bodies = list((await conn.execute(select(WebhookEvent.__table__.c.body))).scalars())
    await engine.dispose()
    return bodies


# --- the two senders --------------------------------------------------------------------------


async def raw_send(url: str, bodies: list[str], concurrency: int) -> float:
    secret = rules.new_secret()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, trust_env=False, timeout=15) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                at = dt.datetime.now(dt.UTC)
                headers = rules.headers([secret], rules.new_event_id(), at, body)
                r = await client.post(url, content=body.encode(), headers=headers)
                r.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start


async def opensure_send(values: dict[str, str], n: int, tmp: Path) -> tuple[float, float]:
    """Run `opensure dispatcher` until all n seeded events are delivered; the seconds it took
    and the dispatcher's CPU seconds meanwhile."""
    engine = create_engine(values["database_url"])
    ev = WebhookEvent.__table__
    undelivered = select(func.count()).where(ev.c.delivered_at.is_(None))
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
        cpu0 = cpu_seconds(proc.pid) or 0.0
        while True:
            await asyncio.sleep(0.05)
            async with engine.connect() as conn:
                left = await conn.scalar(undelivered)
            if left == 0:
                elapsed = time.perf_counter() - start
                cpu = (cpu_seconds(proc.pid) or 0.0) - cpu0
                break
            if proc.poll() is not None:
                raise RuntimeError(f"the dispatcher exited:\n{log.read_text()[-3000:]}")
        async with engine.connect() as conn:
            delivered = await conn.scalar(select(func.count()).where(ev.c.delivered_at.isnot(None)))
        if delivered != n:
            raise RuntimeError(f"{delivered} of {n} events delivered")
        return elapsed, cpu
    finally:
        proc.terminate()
        proc.wait(30)
        await engine.dispose()


# --- latency: survey answered → event arrived -------------------------------------------------


async def add_endpoint(url: str, account_id: int, receiver_url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await webhooks.create_endpoint(
            conn, account_id, url=receiver_url, events=EVENT, allow_private_network=True
        )
    await engine.dispose()


def latency(url: str, samples: int, tmp: Path) -> tuple[float, float, float]:
    """POST /s/{code} (one answer) → arrival of its event at the receiver, through a real server
    process and its embedded dispatcher; p50, p99 and the mean body size."""
    arrivals = tmp / f"arrivals-{secrets.token_hex(3)}.log"
    receiver = Receiver(record_to=arrivals)
    port = free_port()
    env = opensure_env(database_url=url, public_url=f"http://127.0.0.1:{port}")
    account, survey = create_account(env, tmp, name="Lat")
    asyncio.run(add_endpoint(url, account["id"], receiver.url))
    question = survey["questions"][0]["id"]
    server = subprocess.Popen(
        [OPENSURE, "serve", "--port", str(port), "--no-access-log", "--no-demo"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    hidden = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
    try:
        wait_port(port)
        delays = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            for i in range(samples):
                # At a random moment of the idle sender's 1 s look-again interval.
                time.sleep(random.uniform(0, 1))
                page = client.get(f"/s/{survey['code']}")
                page.raise_for_status()
                form = dict(hidden.findall(page.text))
                form[f"q{question}"] = "9"
                form.update(name="Lat Customer", email=f"lat{i}@example.com")  # an open link
                before = len(arrivals.read_text().splitlines()) if arrivals.exists() else 0
                t0 = time.time()
                r = client.post(f"/s/{survey['code']}", data=form)
                if r.status_code >= 400:
                    raise RuntimeError(f"the survey answered {r.status_code}: {r.text[:500]}")
                deadline = time.monotonic() + 30
                while True:
                    lines = arrivals.read_text().splitlines() if arrivals.exists() else []
                    if len(lines) > before:
                        delays.append(float(lines[before].split()[0]) - t0)
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError("an answer's event did not arrive within 30 s")
                    time.sleep(0.002)
        sizes = [int(line.split()[1]) for line in arrivals.read_text().splitlines()]
        delays.sort()
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        return statistics.median(delays), p99, statistics.mean(sizes)
    finally:
        server.terminate()
        server.wait(20)
        receiver.stop()


async def run_backend(args: argparse.Namespace, backend: str, tmp: Path) -> dict[str, Any]:
    url = await fresh_db(backend, tmp)
    try:
        receiver = Receiver()
        try:
            await seed(url, args.n, receiver.url)
            bodies = await seeded(url)
            cpu0 = cpu_seconds(receiver.proc.pid) or 0.0
            raw_s = await raw_send(receiver.url, bodies, args.concurrency)
            cpu1 = cpu_seconds(receiver.proc.pid) or 0.0
            values = {
                "database_url": url,
                "webhook_concurrency": str(args.concurrency),
                "mail_url": "smtp://127.0.0.1:1",  # nothing to send: no request is due
            }
            ours_s, ours_cpu = await opensure_send(values, args.n, tmp)
            cpu2 = cpu_seconds(receiver.proc.pid) or 0.0
            arrived = receiver.count()
        finally:
            receiver.stop()
        if arrived < 2 * args.n:
            raise RuntimeError(f"the receiver saw {arrived} POSTs, not {2 * args.n}")
        p50 = p99 = real_size = None
        if args.latency_samples:
            p50, p99, real_size = await asyncio.to_thread(latency, url, args.latency_samples, tmp)
    finally:
        await drop_db(url)
    return {
        "backend": backend,
        "raw": args.n / raw_s,
        "ours": args.n / ours_s,
        # Busy fractions (1.0 = one core) while each side ran.
        "receiver_raw_cpu": (cpu1 - cpu0) / raw_s,
        "dispatcher_cpu": ours_cpu / ours_s,
        "receiver_ours_cpu": (cpu2 - cpu1) / ours_s,
        "size": statistics.mean(len(b) for b in bodies),
        "real_size": real_size,
        "p50": p50,
        "p99": p99,
    }


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for backend in args.backend:
            r = await run_backend(args, backend, Path(tmpdir))
            results.append(r)
            lat = (
                f"latency p50 {r['p50'] * 1000:.0f} ms p99 {r['p99'] * 1000:.0f} ms "
                f"(real body {r['real_size']:,.0f} B)"
                if r["p50"] is not None
                else "no latency"
            )
            print(
                f"{backend}: opensure {r['ours']:,.0f}/s, raw httpx {r['raw']:,.0f}/s "
                f"({r['size']:,.0f} B bodies), ratio {r['ours'] / r['raw']:.0%}; "
                f"CPU: receiver {r['receiver_raw_cpu']:.0%} during raw, "
                f"dispatcher {r['dispatcher_cpu']:.0%} and receiver "
                f"{r['receiver_ours_cpu']:.0%} during opensure; {lat}",
                flush=True,
            )
    return results


def main() -> None:
    if sys.argv[1:2] == ["receive"]:
        receive_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--latency-samples", type=int, default=30)
    args = parser.parse_args()
    args.backend = args.backend or ["sqlite", "postgresql"]
    results = asyncio.run(run(args))
    print()
    print(
        "| backend | opensure events/s | raw httpx POSTs/s (same bodies) | ratio "
        "| answer→arrival p50 | p99 |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        lat = (
            f"{r['p50'] * 1000:.0f} ms | {r['p99'] * 1000:.0f} ms"
            if r["p50"] is not None
            else "- | -"
        )
        print(
            f"| {r['backend']} | {r['ours']:,.0f} | {r['raw']:,.0f} "
            f"| {r['ours'] / r['raw']:.0%} | {lat} |"
        )


if __name__ == "__main__":
    main()
