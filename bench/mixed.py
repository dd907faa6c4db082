"""Production shape under mixed load, on PostgreSQL.

    .venv/bin/python -m bench.mixed [--seconds 20] [--concurrency 16] [--queue 20000]

The API's mixed load — 70% GET /feedback_requests/:id, 20% POST /feedback_requests, 10%
GET /feedback_requests?per_page=100 — against `opensure serve --no-dispatcher` with 1 and then 2
worker processes, while 2 `opensure dispatcher` processes drain a queue of due requests into an
SMTP sink (aiosmtpd in its own process). Reports API requests/s and p99, and emails/s sent
meanwhile. The load loop is httpx in this process (bounded by --seconds); everything shares
the machine's 2 cores, so compare the rows with each other and with docs/benchmarks.md's
single-endpoint figures rather than with a dedicated server.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select

from bench.harness import (
    OPENSURE,
    SURVEY,
    Sink,
    api_headers,
    create_database,
    drop_database,
    free_port,
    opensure_env,
    wait_port,
)
from opensure.accounts import service as admin
from opensure.db import create_engine
from opensure.db.migrate import upgrade
from opensure.models import FeedbackRequest
from opensure.surveys import importer


async def prepare(url: str, queue: int) -> tuple[str, int, list[int]]:
    """An account, a survey, 1,000 future requests to read, and ``queue`` due ones to send."""
    engine = create_engine(url)
    await upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    async with engine.begin() as conn:
        account = await admin.create_account(conn, f"Mixed {secrets.token_hex(3)}")
        survey = await importer.import_survey(conn, account["id"], SURVEY)

        def row(i: int, send_at: dt.datetime) -> dict[str, object]:
            return {
                "account_id": account["id"],
                "survey_id": survey["id"],
                "email": f"m{i}@example.com",
                "state": "pending",
                "send_at": send_at,
                "token": secrets.token_urlsafe(24),
                "created_at": now,
                "updated_at": now,
            }

        future = [row(i, now + dt.timedelta(days=30)) for i in range(1000)]
        due = [row(1000 + i, now - dt.timedelta(seconds=queue - i)) for i in range(queue)]
        for start in range(0, len(future) + len(due), 5000):
            await conn.execute(
                insert(FeedbackRequest.__table__), (future + due)[start : start + 5000]
            )
        t = FeedbackRequest.__table__
        ids = list(
            (
                await conn.execute(
                    select(t.c.id).where(t.c.account_id == account["id"], t.c.send_at > now)
                )
            ).scalars()
        )
    await engine.dispose()
    return account["token"], survey["id"], ids


async def sent_count(url: str) -> int:
    engine = create_engine(url)
    t = FeedbackRequest.__table__
    async with engine.connect() as conn:
        n = (await conn.execute(select(func.count()).where(t.c.state == "sent"))).scalar_one()
    await engine.dispose()
    return int(n)


async def load(
    base: str, token: str, survey_id: int, ids: list[int], seconds: float, concurrency: int
) -> tuple[int, int, list[float]]:
    headers = api_headers(token)
    send_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    latencies: list[float] = []
    errors = 0
    rng = random.Random(7)
    deadline = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            roll = rng.random()
            t0 = time.perf_counter()
            if roll < 0.7:
                r = await client.get(f"/feedback_requests/{rng.choice(ids)}")
            elif roll < 0.9:
                r = await client.post(
                    "/feedback_requests",
                    json={"email": "load@example.com", "send_at": send_at, "survey_id": survey_id},
                )
            else:
                r = await client.get("/feedback_requests?per_page=100")
            latencies.append(time.perf_counter() - t0)
            if r.status_code >= 400:
                errors += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return len(latencies), errors, latencies


async def run_one(workers: int, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    url = await create_database("bench_mixed")
    sink = Sink()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        token, survey_id, ids = await prepare(url, args.queue)
        port = free_port()
        env = opensure_env(
            database_url=url,
            public_url=f"http://127.0.0.1:{port}",
            mail_url=f"smtp://127.0.0.1:{sink.port}",
            rate_limit="0",
            dispatch_batch_size="500",
        )
        processes.append(
            subprocess.Popen(
                [
                    OPENSURE,
                    "serve",
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                    "--no-dispatcher",
                    "--no-access-log",
                    "--no-demo",
                ],
                env=env,
                cwd=tmp,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_port(port, 60)
        await asyncio.sleep(1.0)
        sent_before = await sent_count(url)
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    [OPENSURE, "dispatcher"],
                    env=env,
                    cwd=tmp,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        t0 = time.perf_counter()
        count, errors, latencies = await load(
            f"http://127.0.0.1:{port}", token, survey_id, ids, args.seconds, args.concurrency
        )
        elapsed = time.perf_counter() - t0
        emails = await sent_count(url) - sent_before
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        sink.stop()
        await drop_database(url)
    latencies.sort()
    return {
        "workers": workers,
        "rps": count / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "errors": errors,
        "emails": emails / elapsed,
    }


async def main_async(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for workers in args.workers:
            rows.append(await run_one(workers, args, Path(tmpdir)))
            print(rows[-1], flush=True)
    print()
    print(
        "| API workers | API req/s (70/20/10 mix) | p50 ms | p99 ms | errors "
        "| emails/s meanwhile (2 dispatchers) |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['workers']} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} "
            f"| {r['errors']} | {r['emails']:,.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--queue", type=int, default=20000)
    parser.add_argument("--workers", type=int, action="append")
    args = parser.parse_args()
    args.workers = args.workers or [1, 2]
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
