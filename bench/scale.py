"""One account with a million feedback requests and a million responses, on PostgreSQL.

    .venv/bin/python -m bench.scale [--requests 1000000] [--samples 30] [--keep | --database URL]

Builds the data with COPY (triggers off during the load, the metric rollups rebuilt after, as
an operator would after a bulk import; the migrations after the schema the generator was
written for, 0008, then run down and up again over the rows, so that what they derive from rows
is built as on an upgrade), starts a real `opensure serve`, and measures p50/p99 latency over
HTTP of:
- GET /nps and GET /response_rate over the whole range, beside the plain SQL aggregate over the
  base tables timed in the same run (what the endpoint would cost without rollups);
- GET /feedback_requests and GET /feedback_responses, first page and last page (per_page=100).

``--keep`` keeps the database (its URL is printed) and ``--database URL`` measures it again
without building. The data building (:func:`build`, :func:`reopen`) and the server
(:class:`Server`) are shared with ``bench.console``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.harness import (
    OPENSURE,
    api_headers,
    cli,
    create_account,
    create_database,
    drop_database,
    free_port,
    opensure_env,
    wait_port,
)
from opensure.db import create_engine
from opensure.db.migrate import downgrade, upgrade

SURVEY = {
    "name": "Scale",
    "questions": [
        {"type": "rating", "text": "How likely are you to recommend us?", "nps": True},
        {"type": "text", "text": "Anything else?", "required": False},
    ],
}
# The schema generate() writes: rows it loads go in at this revision's tables, and the
# migrations after it are run again over them (see rerun_later_migrations).
GENERATED_FOR = "0008"
MIGRATION_0003 = importlib.import_module(
    "opensure.migrations.versions.20261127_0003_metric_rollups"
)
MIGRATION_0005 = importlib.import_module(
    "opensure.migrations.versions.20261127_0005_list_count_rollups"
)


@dataclass(frozen=True)
class Spread:
    """What the generated requests are filed under, and the comments of their answers.

    Each request gets a staff member (and so their team), a site and one option of every
    segment, round the lists; a response to a request copies its staff member, team and site,
    as the survey page does; ``comment_share`` of the responses also answer the text question
    with a few words of :data:`WORDS` (``RARE_WORD`` in one comment in 200).
    """

    staff: Sequence[tuple[int, int | None]]  # (staff id, team id)
    site_ids: Sequence[int]
    segments: Sequence[Sequence[int]]  # each segment's option ids
    comment_question_id: int
    comment_share: float = 0.35


WORDS = [
    "service",
    "staff",
    "quick",
    "slow",
    "friendly",
    "helpful",
    "price",
    "delivery",
    "late",
    "great",
    "excellent",
    "poor",
    "support",
    "waiting",
    "phone",
    "email",
    "order",
    "product",
    "quality",
    "manager",
    "again",
    "recommend",
    "thanks",
    "problem",
    "solved",
    "issue",
    "easy",
    "website",
    "app",
    "team",
]
COMMON_WORD = "delivery"
RARE_WORD = "refund"


def reference_of(request_id: int) -> str:
    """The reference of a generated request (with a Spread)."""
    return f"REF-{request_id:07d}"


def email_of(i: int) -> str:
    return f"c{i}@example.com"


def _comment(rng: random.Random) -> str:
    words = rng.sample(WORDS, rng.randrange(3, 9))
    if rng.random() < 0.005:
        words.insert(rng.randrange(len(words) + 1), RARE_WORD)
    return " ".join(words).capitalize() + "."


REQUEST_COLUMNS = [
    "id",
    "account_id",
    "survey_id",
    "email",
    "email_normalized",
    "first_name",
    "state",
    "send_at",
    "sent_at",
    "created_at",
    "updated_at",
    "delivery_failure",
    "token",
    "attempts",
    "reference",
    "machine_id",
    "staff_id",
    "site_id",
]
RESPONSE_COLUMNS = [
    "id",
    "account_id",
    "survey_id",
    "feedback_request_id",
    "email",
    "email_normalized",
    "submitted_at",
    "updated_at",
    "reference",
    "machine_id",
    "staff_id",
    "team_id",
    "site_id",
]


async def generate(
    dsn: str,
    account_id: int,
    survey_id: int,
    question_id: int,
    n: int,
    spread: Spread | None = None,
) -> None:
    """n requests over the last year (95% sent, 2% of those bounced), as many responses
    (70% of them to a sent request), each with a rating; with ``spread``, attributed to staff,
    teams, sites and segment options, with references and comments."""
    rng = random.Random(42)
    now = dt.datetime.now(dt.UTC)
    conn = await asyncpg.connect(dsn)
    try:
        for table in TABLES:
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        requests = []
        links: list[tuple[int, int, int]] = []
        # Of each sent request: id, sent_at, reference, machine_id, staff, team, site.
        sent: list[tuple[int, dt.datetime, str | None, str | None, Any, Any, Any]] = []
        for i in range(1, n + 1):
            send_at = now - dt.timedelta(seconds=rng.randrange(365 * 86400))
            roll = rng.random()
            state = "sent" if roll < 0.95 else ("pending" if roll < 0.97 else "not_sent")
            sent_at = send_at + dt.timedelta(seconds=5) if state == "sent" else None
            failure = "550 mailbox unavailable" if state == "sent" and rng.random() < 0.02 else None
            if state == "pending":
                send_at = now + dt.timedelta(days=rng.randrange(1, 30))
            reference = machine_id = staff_id = team_id = site_id = None
            if spread is not None:
                reference, machine_id = reference_of(i), f"m-{i}"
                staff_id, team_id = spread.staff[i % len(spread.staff)]
                site_id = spread.site_ids[i % len(spread.site_ids)]
                for options in spread.segments:
                    links.append((len(links) + 1, i, options[rng.randrange(len(options))]))
            email = email_of(i)
            requests.append(
                (
                    i,
                    account_id,
                    survey_id,
                    email,
                    email,
                    f"Customer{i}",
                    state,
                    send_at,
                    sent_at,
                    now,
                    now,
                    failure,
                    secrets.token_hex(16),
                    0,
                    reference,
                    machine_id,
                    staff_id,
                    site_id,
                )
            )
            if state == "sent":
                assert sent_at is not None
                sent.append((i, sent_at, reference, machine_id, staff_id, team_id, site_id))
        await conn.copy_records_to_table(
            "feedback_requests", records=requests, columns=REQUEST_COLUMNS
        )
        del requests
        await conn.execute("SELECT setval('feedback_requests_id_seq', $1)", n)
        if links:
            await conn.copy_records_to_table(
                "request_segment_options",
                records=links,
                columns=["id", "feedback_request_id", "segment_option_id"],
            )
            await conn.execute("SELECT setval('request_segment_options_id_seq', $1)", len(links))
        del links
        linked = sent[: int(n * 0.7)]
        responses = []
        answers: list[tuple[int, int, int, str, int | None]] = []
        for rid in range(1, n + 1):
            if rid <= len(linked):
                request_id, sent_at, *attributes = linked[rid - 1]
                submitted = sent_at + dt.timedelta(hours=rng.randrange(1, 72))
            else:
                request_id, attributes = None, [None] * 5
                submitted = now - dt.timedelta(seconds=rng.randrange(365 * 86400))
            submitted = min(submitted, now)
            email = email_of(rid)
            responses.append(
                (
                    rid,
                    account_id,
                    survey_id,
                    request_id,
                    email,
                    email,
                    submitted,
                    submitted,
                    *attributes,
                )
            )
            rating = rng.choice((0, 3, 5, 6, 7, 8, 8, 9, 9, 10, 10, 10))
            answers.append((len(answers) + 1, rid, question_id, str(rating), rating))
            if spread is not None and rng.random() < spread.comment_share:
                answers.append(
                    (len(answers) + 1, rid, spread.comment_question_id, _comment(rng), None)
                )
        del sent, linked
        await conn.copy_records_to_table(
            "feedback_responses", records=responses, columns=RESPONSE_COLUMNS
        )
        del responses
        await conn.execute("SELECT setval('feedback_responses_id_seq', $1)", n)
        await conn.copy_records_to_table(
            "answers",
            records=answers,
            columns=["id", "feedback_response_id", "question_id", "value", "rating"],
        )
        await conn.execute("SELECT setval('answers_id_seq', $1)", len(answers))
        del answers
        for table in TABLES:
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        await rebuild_rollups(conn)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


# The tables loaded with their triggers off: the rollups those triggers keep are rebuilt after.
TABLES = ("feedback_requests", "feedback_responses", "answers", "request_segment_options")


async def rerun_later_migrations(url: str) -> None:
    """Down to :data:`GENERATED_FOR` and up to the newest schema again, so that what the
    migrations after it derive from existing rows (their counters, their indexes) is built from
    the rows just loaded, as on an installation that upgrades."""
    engine = create_engine(url)
    try:
        await downgrade(engine, GENERATED_FOR)
        await upgrade(engine)
    finally:
        await engine.dispose()
    await analyze(url)


async def analyze(url: str) -> None:
    """Planner statistics for every table (tables a migration just filled have none)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def rebuild_rollups(conn: asyncpg.Connection) -> None:
    """Recount the rollups from the base tables, as the migrations that made them do."""
    await conn.execute("DELETE FROM rollup_response_rate")
    await conn.execute("DELETE FROM rollup_nps")
    await conn.execute(MIGRATION_0003.REBUILD_RESPONSE_RATE)
    await conn.execute(MIGRATION_0003.REBUILD_NPS)
    await conn.execute("DELETE FROM rollup_request_counts")
    await conn.execute("DELETE FROM rollup_response_counts")
    await conn.execute(MIGRATION_0005.REBUILD_REQUEST_COUNTS)
    await conn.execute(MIGRATION_0005.REBUILD_RESPONSE_COUNTS)


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


@dataclass(frozen=True)
class Dataset:
    """A database holding one account's million rows (or however many were asked for)."""

    url: str
    account_id: int
    token: str  # an API token of the account
    survey_id: int
    question_id: int  # the NPS question
    comment_question_id: int  # the text question

    def env(self, port: int) -> dict[str, str]:
        """The environment of an `opensure` command that serves this data on ``port``."""
        return opensure_env(
            database_url=self.url,
            public_url=f"http://127.0.0.1:{port}",
            mail_url="maildir:" + tempfile.mkdtemp(),
        )

    @property
    def cli_env(self) -> dict[str, str]:
        return opensure_env(database_url=self.url)


async def _attribute(url: str, account_id: int, comment_question_id: int) -> Spread:
    """Teams, staff members, sites and two segments with their options, spread over requests."""
    conn = await asyncpg.connect(url)
    try:
        teams = [
            await conn.fetchval(
                "INSERT INTO teams (account_id, name) VALUES ($1, $2) RETURNING id",
                account_id,
                f"Team {t}",
            )
            for t in range(1, 9)
        ]
        staff = [
            (
                await conn.fetchval(
                    "INSERT INTO staff (account_id, code, name, team_id) VALUES ($1, $2, $3, $4) "
                    "RETURNING id",
                    account_id,
                    f"S{s:03d}",
                    f"Staff member {s}",
                    teams[s % len(teams)],
                ),
                teams[s % len(teams)],
            )
            for s in range(1, 41)
        ]
        sites = [
            await conn.fetchval(
                "INSERT INTO sites (account_id, site_code, name, created_at, updated_at) "
                "VALUES ($1, $2, $3, now(), now()) RETURNING id",
                account_id,
                f"SITE{s:02d}",
                f"Site {s}",
            )
            for s in range(1, 26)
        ]
        segments = []
        for key, values in (
            ("product", ("Broadband", "Mobile", "TV", "Landline", "Bundle", "Business")),
            ("channel", ("Phone", "Email", "Chat", "Shop")),
        ):
            segment_id = await conn.fetchval(
                "INSERT INTO segments (account_id, key) VALUES ($1, $2) RETURNING id",
                account_id,
                key,
            )
            segments.append(
                [
                    await conn.fetchval(
                        "INSERT INTO segment_options (segment_id, value) VALUES ($1, $2) "
                        "RETURNING id",
                        segment_id,
                        value,
                    )
                    for value in values
                ]
            )
    finally:
        await conn.close()
    return Spread(staff, sites, segments, comment_question_id)


async def build(requests: int, *, attributed: bool = False, prefix: str = "bench_scale") -> Dataset:
    """A new database with one account ("Scale") and ``requests`` requests and responses,
    migrated to the newest schema first; with ``attributed``, spread as :class:`Spread` says."""
    url = await create_database(prefix)
    env = opensure_env(database_url=url)
    subprocess.run([OPENSURE, "migrate"], env=env, check=True, capture_output=True)
    with tempfile.TemporaryDirectory() as tmp:
        account, survey = create_account(env, Path(tmp), SURVEY, name="Scale")
    question_id, comment_question_id = (int(q["id"]) for q in survey["questions"])
    spread = await _attribute(url, int(account["id"]), comment_question_id) if attributed else None
    t0 = time.perf_counter()
    await generate(url, int(account["id"]), int(survey["id"]), question_id, requests, spread)
    await rerun_later_migrations(url)
    print(
        f"generated {requests:,} requests and responses in {time.perf_counter() - t0:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return Dataset(
        url,
        int(account["id"]),
        str(account["token"]),
        int(survey["id"]),
        question_id,
        comment_question_id,
    )


async def reopen(url: str) -> Dataset:
    """A database :func:`build` made and kept: migrated to the newest schema (later
    migrations fill in what they add, as on any installation), with a new API token."""
    env = opensure_env(database_url=url)
    subprocess.run([OPENSURE, "migrate"], env=env, check=True, capture_output=True)
    await analyze(url)
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT a.id AS account_id, s.id AS survey_id FROM accounts a "
            "JOIN surveys s ON s.account_id = a.id WHERE a.name LIKE 'Scale %' "
            "ORDER BY s.id LIMIT 1"
        )
        if row is None:
            raise SystemExit(f"{url} holds no account made by bench.scale")
        questions = [
            int(r[0])
            for r in await conn.fetch(
                "SELECT id FROM questions WHERE survey_id = $1 ORDER BY position, id",
                row["survey_id"],
            )
        ]
    finally:
        await conn.close()
    token = cli(env, "tokens", "create", "--account", str(row["account_id"]))["token"]
    return Dataset(
        url, int(row["account_id"]), str(token), int(row["survey_id"]), questions[0], questions[1]
    )


class Server:
    """A real `opensure serve --no-dispatcher` over a dataset, on a free loopback port."""

    def __init__(self, dataset: Dataset, *, access_log: bool = False) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        args = [OPENSURE, "serve", "--port", str(self.port), "--no-demo", "--no-dispatcher"]
        if not access_log:
            args.append("--no-access-log")
        self.proc = subprocess.Popen(
            args,
            env=dataset.env(self.port),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, timeout=120)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """--keep and --database, read by :func:`release`."""
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    parser.add_argument(
        "--database", metavar="URL", help="Reuse a database kept by --keep instead of building one."
    )


async def release(dataset: Dataset, args: argparse.Namespace) -> None:
    """Drop the database unless it was asked to be kept or is one being reused."""
    if args.keep or args.database:
        print(f"kept database {dataset.url}", file=sys.stderr)
    else:
        await drop_database(dataset.url)


async def main_async(args: argparse.Namespace) -> None:
    if args.database:
        dataset = await reopen(args.database)
    else:
        dataset = await build(args.requests)
    server = None
    try:
        server = Server(dataset)
        rows: list[tuple[str, tuple[float, float], str, float | None]] = []
        with httpx.Client(
            base_url=server.base_url, headers=api_headers(dataset.token), timeout=60
        ) as client:
            whole = "from_time=2000-01-01T00:00:00Z&to_time=" + dt.datetime.now(dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
            for label, path, raw_sql in (
                ("GET /nps (whole range)", f"/nps?{whole}", RAW_NPS),
                ("GET /response_rate (whole range)", f"/response_rate?{whole}", RAW_RESPONSE_RATE),
            ):
                api = http_timing(client, path, args.samples)
                raw = await raw_timing(dataset.url, raw_sql, dataset.account_id, args.samples)
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
            server.stop()
        await release(dataset, args)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=30)
    dataset_arguments(parser)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
