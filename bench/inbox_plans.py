"""The console inbox's query plans and timings on PostgreSQL with a few hundred thousand
responses: every filter shape, first page and a deep page (by cursor).

    python -m bench.inbox_plans postgresql://postgres@127.0.0.1:5432/postgres [--responses N]

Creates a scratch database, migrates it, fills it with SQL (generate_series), prints each
shape's plan summary and its median time over 5 runs, and drops the database.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import secrets
import statistics
import time

import asyncpg

from opensure.db import create_engine
from opensure.db.fast import PgSession
from opensure.db.migrate import upgrade
from opensure.feedback_responses import repository as repo
from opensure.feedback_responses.repository import Cursor, InboxFilter

FILL = """
INSERT INTO accounts (id, name, min_interval_days, created_at)
  VALUES (1, 'Big', 0, now()), (2, 'Other', 0, now());
INSERT INTO surveys (id, account_id, code, name, created_at)
  VALUES (1, 1, 'big1', 'S1', now()), (2, 1, 'big2', 'S2', now()), (3, 2, 'oth', 'S3', now());
INSERT INTO questions (id, survey_id, position, type, text, required, nps)
  SELECT s * 10 + p, s, p, CASE p WHEN 0 THEN 'rating' ELSE 'text' END, 'Q' || p, false, p = 0
  FROM generate_series(1, 3) s, generate_series(0, 1) p;
INSERT INTO teams (id, account_id, name) SELECT t, 1, 'Team ' || t FROM generate_series(1, 5) t;
INSERT INTO staff (id, account_id, code, name, team_id)
  SELECT s, 1, 'st' || s, 'Staff ' || s, 1 + s % 5 FROM generate_series(1, 100) s;
INSERT INTO sites (id, account_id, site_code, name, created_at, updated_at)
  SELECT s, 1, 'S' || s, 'Site ' || s, now(), now() FROM generate_series(1, 20) s;
INSERT INTO segments (id, account_id, key) VALUES (1, 1, 'plan');
INSERT INTO segment_options (id, segment_id, value)
  SELECT o, 1, 'opt' || o FROM generate_series(1, 10) o;
INSERT INTO feedback_requests (id, account_id, survey_id, state, send_at, sent_at, created_at,
  updated_at, token, staff_id, site_id)
  SELECT i, 1, 1 + i % 2, 'sent', now() - i * interval '1 minute', now() - i * interval '1 minute',
    now(), now(), md5(i::text), 1 + i % 100, 1 + i % 20
  FROM generate_series(1, $n) i;
INSERT INTO request_segment_options (feedback_request_id, segment_option_id)
  SELECT i, 1 + (i * 7) % 10 FROM generate_series(1, $n) i;
INSERT INTO feedback_responses (id, account_id, survey_id, feedback_request_id, email,
  submitted_at, updated_at, staff_id, team_id, site_id)
  SELECT i, CASE WHEN i % 4 = 0 THEN 2 ELSE 1 END, CASE WHEN i % 4 = 0 THEN 3 ELSE 1 + i % 2 END,
    i, 'c' || i || '@example.com', now() - i * interval '1 minute', now(),
    1 + i % 100, 1 + (1 + i % 100) % 5, 1 + i % 20
  FROM generate_series(1, $n) i;
INSERT INTO answers (feedback_response_id, question_id, value, rating)
  SELECT r.id, r.survey_id * 10, ((r.id * 7919) % 11)::text, (r.id * 7919) % 11
  FROM feedback_responses r;
INSERT INTO answers (feedback_response_id, question_id, value)
  SELECT r.id, r.survey_id * 10 + 1,
    (ARRAY['quick and friendly', 'slow delivery again', 'refund took three weeks',
           'great support from the team', 'the app crashed twice'])[1 + r.id % 5]
    || ' ' || md5(r.id::text)
  FROM feedback_responses r WHERE r.id % 3 = 0;
UPDATE answers SET value = value || ' zebra' WHERE id % 10007 = 0;
"""

SHAPES: dict[str, InboxFilter] = {
    "no filter": InboxFilter(),
    "one survey": InboxFilter(survey_ids=(1,)),
    "one week": InboxFilter(
        start=dt.datetime.now(dt.UTC) - dt.timedelta(days=14),
        end=dt.datetime.now(dt.UTC) - dt.timedelta(days=7),
    ),
    "band detractor": InboxFilter(band="detractor"),
    "score 10": InboxFilter(score=10),
    "staff member": InboxFilter(staff_id=42),
    "team": InboxFilter(team_id=3),
    "site": InboxFilter(site_id=7),
    "segment option": InboxFilter(segment_option_id=4),
    "has comment": InboxFilter(has_comment=True),
    "search common word": InboxFilter(words=("refund",)),
    "search rare word": InboxFilter(words=("zebra",)),
    "search two words": InboxFilter(words=("great", "team")),
    "staff + detractor + comment": InboxFilter(staff_id=42, band="detractor", has_comment=True),
}


class Capture:
    """A session that runs the search's first statement (the index's hits) for real and
    keeps the page's statement, to be explained and timed."""

    dialect = "postgresql"

    def __init__(self, real: PgSession) -> None:
        self.real = real
        self.page: list[tuple[str, list[object]]] = []

    async def fetch(self, query: repo.Query, *args: object) -> list[object]:
        if query is repo.SEARCH_HITS:
            return list(await self.real.fetch(query, *args))
        self.page.append((query.postgresql, list(args)))
        return []

    def ts(self, value: dt.datetime) -> dt.datetime:
        return value


async def timed(conn: asyncpg.Connection, sql: str, args: list[object]) -> float:
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        await conn.fetch(sql, *args)
        runs.append((time.perf_counter() - t) * 1000)
    return statistics.median(runs)


async def main_async(admin: str, n: int, *, keep: bool, full: bool, reuse: str | None) -> None:
    name = reuse or f"opensure_inbox_{secrets.token_hex(4)}"
    server = await asyncpg.connect(admin)
    dsn = admin.rsplit("/", 1)[0] + f"/{name}"
    if reuse is None:
        await server.execute(f'CREATE DATABASE "{name}"')
    try:
        engine = create_engine(dsn)
        await upgrade(engine)
        await engine.dispose()
        conn = await asyncpg.connect(dsn)
        n = await conn.fetchval("SELECT count(*) FROM feedback_responses") if reuse else n
        # The rollup triggers (0003, 0005) are not what is measured here, and one row updated
        # 400,000 times in one transaction takes minutes.
        for table in ("feedback_requests", "feedback_responses", "answers"):
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for statement in FILL.replace("$n", str(n)).split(";\n") if reuse is None else ():
            if statement.strip():
                await conn.execute(statement)
        await conn.execute("VACUUM ANALYZE")
        await conn.execute("SET plan_cache_mode = force_custom_plan")
        deep = await conn.fetchrow(
            "SELECT submitted_at, id FROM feedback_responses WHERE account_id = 1 "
            "ORDER BY submitted_at DESC, id DESC OFFSET $1 LIMIT 1",
            n // 2,
        )
        print(f"{n} responses ({n * 3 // 4} in the account); times: median of 5, ms")
        for label, f in SHAPES.items():
            for where, after in (("first", None), ("deep", Cursor(deep[0], deep[1]))):
                capture = Capture(PgSession(conn))
                await repo.inbox_page(capture, 1, f, after, 51)  # type: ignore[arg-type]
                sql, args = capture.page[-1]
                plan = await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + sql, *args)
                ms = await timed(conn, sql, args)
                nodes = [
                    r[0].strip().removeprefix("-> ").split("  (")[0]
                    for r in plan
                    if any(w in r[0] for w in ("Scan", "Join", "Sort ", "Semi", "SubPlan"))
                ]
                print(f"{label:28} {where:5} {ms:8.2f}  {' / '.join(nodes)[:200]}")
                if full:
                    print("\n".join(r[0] for r in plan))
        await conn.close()
    finally:
        if keep:
            print(f"kept: {dsn}")
        else:
            await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("admin_dsn")
    parser.add_argument("--responses", type=int, default=400_000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--plans", action="store_true", help="print every plan in full")
    parser.add_argument("--reuse", help="a database --keep kept: measure again, no new data")
    args = parser.parse_args()
    asyncio.run(
        main_async(
            args.admin_dsn, args.responses, keep=args.keep, full=args.plans, reuse=args.reuse
        )
    )


if __name__ == "__main__":
    main()
