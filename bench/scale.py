"""One account with a million feedback requests and a million responses, on PostgreSQL.

    .venv/bin/python -m bench.scale [--requests 1000000] [--samples 30] [--keep]

Builds the data with COPY (triggers off during the load, the metric rollups rebuilt after, as
an operator would after a bulk import), starts a real `opensure serve`, and measures p50/p99
latency over HTTP of:
- GET /nps and GET /response_rate over the whole range, beside the plain SQL aggregate over the
  base tables timed in the same run (what the endpoint would cost without rollups);
- GET /feedback_requests and GET /feedback_responses, first page and last page (per_page=100).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time

import asyncpg
import httpx

from bench.harness import ROOT, free_port, wait_port

PG_ADMIN = os.environ.get(
    "OPENSURE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
SURVEY = {
    "name": "Scale",
    "questions": [
        {"type": "rating", "text": "How likely are you to recommend us?", "nps": True},
        {"type": "text", "text": "Anything else?", "required": False},
    ],
}
MIGRATION_0003 = importlib.import_module(
    "opensure.migrations.versions.20261127_0003_metric_rollups"
)
MIGRATION_0005 = importlib.import_module(
    "opensure.migrations.versions.20261127_0005_list_count_rollups"
)
MIGRATION_0011 = importlib.import_module(
    "opensure.migrations.versions.20261206_0011_dashboard_rollups"
)


def opensure(env: dict[str, str], *args: str) -> dict[str, object]:
    out = subprocess.run(
        [str(ROOT / ".venv/bin/opensure"), *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(out))


async def generate(dsn: str, account_id: int, survey_id: int, question_id: int, n: int) -> None:
    """n requests over the last year (95% sent, 2% of those bounced), as many responses."""
    rng = random.Random(42)
    now = dt.datetime.now(dt.UTC)
    conn = await asyncpg.connect(dsn)
    try:
        for table in ("feedback_requests", "feedback_responses", "answers"):
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        requests = []
        sent_ids = []
        for i in range(1, n + 1):
            send_at = now - dt.timedelta(seconds=rng.randrange(365 * 86400))
            roll = rng.random()
            state = "sent" if roll < 0.95 else ("pending" if roll < 0.97 else "not_sent")
            sent_at = send_at + dt.timedelta(seconds=5) if state == "sent" else None
            failure = "550 mailbox unavailable" if state == "sent" and rng.random() < 0.02 else None
            if state == "pending":
                send_at = now + dt.timedelta(days=rng.randrange(1, 30))
            requests.append(
                (
                    i,
                    account_id,
                    survey_id,
                    f"c{i}@example.com",
                    f"Customer{i}",
                    state,
                    send_at,
                    sent_at,
                    now,
                    now,
                    failure,
                    secrets.token_hex(16),
                    0,
                )
            )
            if state == "sent":
                sent_ids.append((i, sent_at))
        await conn.copy_records_to_table(
            "feedback_requests",
            records=requests,
            columns=[
                "id",
                "account_id",
                "survey_id",
                "email",
                "first_name",
                "state",
                "send_at",
                "sent_at",
                "created_at",
                "updated_at",
                "delivery_failure",
                "token",
                "attempts",
            ],
        )
        await conn.execute("SELECT setval('feedback_requests_id_seq', $1)", n)
        linked = sent_ids[: int(n * 0.7)]
        responses = []
        answers = []
        for rid in range(1, n + 1):
            if rid <= len(linked):
                request_id, sent_at = linked[rid - 1]
                submitted = sent_at + dt.timedelta(hours=rng.randrange(1, 72))
            else:
                request_id = None
                submitted = now - dt.timedelta(seconds=rng.randrange(365 * 86400))
            submitted = min(submitted, now)
            responses.append(
                (
                    rid,
                    account_id,
                    survey_id,
                    request_id,
                    f"c{rid}@example.com",
                    submitted,
                    submitted,
                )
            )
            rating = rng.choice((0, 3, 5, 6, 7, 8, 8, 9, 9, 10, 10, 10))
            answers.append((rid, rid, question_id, str(rating), rating))
        await conn.copy_records_to_table(
            "feedback_responses",
            records=responses,
            columns=[
                "id",
                "account_id",
                "survey_id",
                "feedback_request_id",
                "email",
                "submitted_at",
                "updated_at",
            ],
        )
        await conn.execute("SELECT setval('feedback_responses_id_seq', $1)", n)
        await conn.copy_records_to_table(
            "answers",
            records=answers,
            columns=["id", "feedback_response_id", "question_id", "value", "rating"],
        )
        await conn.execute("SELECT setval('answers_id_seq', $1)", n)
        for table in ("feedback_requests", "feedback_responses", "answers"):
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        await conn.execute("DELETE FROM rollup_response_rate")
        await conn.execute("DELETE FROM rollup_nps")
        await conn.execute(MIGRATION_0003.REBUILD_RESPONSE_RATE)
        await conn.execute(MIGRATION_0003.REBUILD_NPS)
        await conn.execute("DELETE FROM rollup_request_counts")
        await conn.execute("DELETE FROM rollup_response_counts")
        await conn.execute(MIGRATION_0005.REBUILD_REQUEST_COUNTS)
        await conn.execute(MIGRATION_0005.REBUILD_RESPONSE_COUNTS)
        for table in ("rollup_nps_by", "rollup_responses_by", "rollup_response_rate_by"):
            await conn.execute(f"DELETE FROM {table}")
        for statement in MIGRATION_0011.REBUILD:
            await conn.execute(statement)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


RAW_RESPONSE_RATE = """
    SELECT count(*), count(*) FILTER (WHERE delivery_failure IS NULL),
           count(*) FILTER (WHERE delivery_failure IS NULL AND EXISTS (
               SELECT 1 FROM feedback_responses r WHERE r.feedback_request_id = fr.id))
    FROM feedback_requests fr
    WHERE account_id = $1 AND state = 'sent' AND sent_at >= $2 AND sent_at <= $3
"""
RAW_NPS = """
    SELECT count(*) FILTER (WHERE a.rating >= 9), count(*) FILTER (WHERE a.rating BETWEEN 7 AND 8),
           count(*) FILTER (WHERE a.rating <= 6)
    FROM feedback_responses r JOIN answers a ON a.feedback_response_id = r.id
    JOIN questions q ON q.id = a.question_id
    WHERE r.account_id = $1 AND q.nps AND r.submitted_at >= $2 AND r.submitted_at <= $3
"""


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[
        min(len(ordered) - 1, int(len(ordered) * 0.99))
    ] * 1000


async def raw_timing(dsn: str, sql: str, account_id: int, samples: int) -> tuple[float, float]:
    conn = await asyncpg.connect(dsn)
    start, end = dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime.now(dt.UTC)
    times = []
    try:
        await conn.fetch(sql, account_id, start, end)
        for _ in range(samples):
            t0 = time.perf_counter()
            await conn.fetch(sql, account_id, start, end)
            times.append(time.perf_counter() - t0)
    finally:
        await conn.close()
    return summary(times)


def http_timing(client: httpx.Client, path: str, samples: int) -> tuple[float, float]:
    client.get(path).raise_for_status()
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append(time.perf_counter() - t0)
        r.raise_for_status()
    return summary(times)


async def main_async(args: argparse.Namespace) -> None:
    name = f"bench_scale_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    port = free_port()
    env = {
        **os.environ,
        "OPENSURE_DATABASE_URL": url,
        "OPENSURE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "OPENSURE_MAIL_URL": "maildir:" + tempfile.mkdtemp(),
    }
    server = None
    try:
        subprocess.run(
            [str(ROOT / ".venv/bin/opensure"), "migrate"], env=env, check=True, capture_output=True
        )
        account = opensure(env, "accounts", "create", "Scale")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(SURVEY, f)
        survey = opensure(env, "surveys", "import", "--account", "Scale", f.name)
        question_id = survey["questions"][0]["id"]  # type: ignore[index]
        t0 = time.perf_counter()
        await generate(url, int(account["id"]), int(survey["id"]), int(question_id), args.requests)  # type: ignore[arg-type]
        print(
            f"generated {args.requests:,} requests and responses "
            f"in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        server = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/opensure"),
                "serve",
                "--port",
                str(port),
                "--no-access-log",
                "--no-demo",
                "--no-dispatcher",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(port)
        headers = {
            "User-Agent": "bench",
            "Accept": "application/vnd.customersure.v1+json",
            "Authorization": f"Token token={account['token']}",
        }
        whole = "from_time=2000-01-01T00:00:00Z&to_time=" + dt.datetime.now(dt.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        rows = []
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60
        ) as client:
            for label, path, raw_sql in (
                ("GET /nps (whole range)", f"/nps?{whole}", RAW_NPS),
                ("GET /response_rate (whole range)", f"/response_rate?{whole}", RAW_RESPONSE_RATE),
            ):
                api = http_timing(client, path, args.samples)
                raw = await raw_timing(url, raw_sql, int(account["id"]), args.samples)  # type: ignore[arg-type]
                rows.append((label, api, f"raw SQL aggregate {raw[0]:.1f} ms", api[0] / raw[0]))
            for resource in ("feedback_requests", "feedback_responses"):
                first = http_timing(client, f"/{resource}?per_page=100", args.samples)
                total_pages = int(client.get(f"/{resource}?per_page=100").headers["X-Total-Pages"])
                last = http_timing(
                    client, f"/{resource}?per_page=100&page={total_pages}", args.samples
                )
                middle = http_timing(
                    client, f"/{resource}?per_page=100&page={total_pages // 2}", args.samples
                )
                rows.append((f"GET /{resource} first page", first, "", None))
                rows.append(
                    (
                        f"GET /{resource} last page ({total_pages:,})",
                        last,
                        f"first page {first[0]:.1f} ms",
                        last[0] / first[0],
                    )
                )
                rows.append((f"GET /{resource} middle page", middle, "(not a target)", None))
        print()
        print("| request | p50 | p99 | compared with | ratio |")
        print("|---|---|---|---|---|")
        for label, (p50, p99), against, ratio in rows:
            ratio_text = f"{ratio:.2f}" if ratio is not None else ""
            print(f"| {label} | {p50:.1f} ms | {p99:.1f} ms | {against} | {ratio_text} |")
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        if not args.keep:
            admin = await asyncpg.connect(PG_ADMIN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
        else:
            print(f"kept database {name}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--keep", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
