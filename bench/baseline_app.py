"""The baseline that ``bench.api`` holds OpenSure against: bare Starlette, no FastAPI, no ORM.

It reads and writes OpenSure's own ``feedback_requests`` / ``feedback_request_items`` tables
with hand-written SQL through the bare driver (asyncpg; aiosqlite or the stdlib sqlite3) and
answers with the same JSON shape and headers, so the gap between the two is what FastAPI,
SQLAlchemy and OpenSure's own checks cost. Per request it does:

* every request: the User-Agent, Accept and token checks (token → account id, cached in memory);
* ``GET /feedback_requests/{id}``: one SELECT, the request LEFT JOIN its items;
* ``GET /feedback_requests``: COUNT, the page SELECT and the items SELECT, plus the
  ``Link`` / ``X-Total-Count`` / ``X-Total-Pages`` headers (the same three queries as OpenSure);
* ``GET /feedback_responses``: COUNT, the page SELECT, the answers SELECT (joined to their
  questions) and the embedded requests' SELECT (LEFT JOIN their items), plus the same headers;
* ``POST /feedback_requests``: minimal body checks, then one transaction with
  ``INSERT … RETURNING`` for the request and one multi-row ``INSERT … RETURNING`` for its items.
  Unlike OpenSure it does not check that the survey belongs to the account, does not link
  staff, sites or segments and does not read the request back.

Run by ``bench.api`` as ``python -m bench.baseline_app`` (uvicorn under ``opensure serve``'s
supervisor: ``main`` below), configured by
the environment: ``BENCH_BASELINE_DATABASE_URL`` (``sqlite:///PATH`` or ``postgresql://…``),
``BENCH_BASELINE_SQLITE_DRIVER`` (``aiosqlite``, the default, or ``sqlite3``: blocking calls on
the event loop over one connection) and ``BENCH_BASELINE_PUBLIC_URL``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import aiosqlite
import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MEDIA_TYPE = "application/vnd.customersure.v1+json"
JSON_TYPE = "application/json; charset=utf-8"
_TOKEN = re.compile(r'^\s*Token\s+token\s*=\s*"?([^"\s,]+)"?', re.IGNORECASE)

COLUMNS = (
    "id",
    "email",
    "state",
    "first_name",
    "surname",
    "survey_id",
    "email_template_id",
    "reference",
    "machine_id",
    "send_at",
    "sent_at",
    "created_at",
    "updated_at",
    "deletion_requested_at",
    "not_sent_reason",
    "delivery_failure",
    "reminder_sent_at",
)
NCOLS = len(COLUMNS)
FR_COLS = ", ".join(f"fr.{c}" for c in COLUMNS)
RET_COLS = ", ".join(COLUMNS)
INSERT_COLS = (
    "account_id",
    "survey_id",
    "email",
    "first_name",
    "surname",
    "reference",
    "machine_id",
    "email_template_id",
    "state",
    "send_at",
    "created_at",
    "updated_at",
    "token",
)

Row = Sequence[Any]


# ---- SQL, written once with $n placeholders (PostgreSQL) and turned into ? for SQLite ----

GET_SQL = (
    f'SELECT {FR_COLS}, i.id, i.kind, i."key", i.value FROM feedback_requests fr '
    "LEFT OUTER JOIN feedback_request_items i ON i.feedback_request_id = fr.id "
    "WHERE fr.id = $1 AND fr.account_id = $2 ORDER BY i.id"
)
COUNT_SQL = "SELECT count(*) FROM feedback_requests WHERE account_id = $1"
PAGE_SQL = (
    f"SELECT {FR_COLS} FROM feedback_requests fr WHERE fr.account_id = $1 "
    "ORDER BY fr.send_at DESC, fr.id DESC LIMIT $2 OFFSET $3"
)
TOKEN_SQL = "SELECT account_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
INSERT_SQL = (
    f"INSERT INTO feedback_requests ({', '.join(INSERT_COLS)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(INSERT_COLS) + 1))}) "
    f"RETURNING {RET_COLS}"
)
PG_ITEMS_SQL = (
    'SELECT feedback_request_id, id, kind, "key", value FROM feedback_request_items '
    "WHERE feedback_request_id = ANY($1::bigint[]) ORDER BY id"
)
PG_INSERT_ITEMS_SQL = (
    'INSERT INTO feedback_request_items (feedback_request_id, kind, "key", value) '
    "SELECT $1, t.kind, t.ikey, t.val FROM unnest($2::text[], $3::text[], $4::text[]) "
    'AS t(kind, ikey, val) RETURNING id, kind, "key", value'
)


RESPONSE_COLUMNS = (
    "id",
    "reference",
    "machine_id",
    "survey_id",
    "feedback_request_id",
    "email",
    "name",
    "telephone_number",
    "submitted_at",
    "updated_at",
)
R_COLS = ", ".join(f"r.{c}" for c in RESPONSE_COLUMNS)
RESPONSES_COUNT_SQL = "SELECT count(*) FROM feedback_responses WHERE account_id = $1"
RESPONSES_PAGE_SQL = (
    f"SELECT {R_COLS} FROM feedback_responses r WHERE r.account_id = $1 "
    "ORDER BY r.submitted_at DESC, r.id DESC LIMIT $2 OFFSET $3"
)
# Each answer under the question's revision it was given under, as OpenSure reads it.
ANSWERS_SQL = (
    "SELECT a.feedback_response_id, a.question_id, a.value, v.text, v.type "
    "FROM answers a JOIN questions q ON q.id = a.question_id "
    "JOIN question_revisions v ON v.id = COALESCE(a.question_revision_id, q.revision_id) "
    "WHERE a.feedback_response_id IN ({ids}) ORDER BY v.position, q.id"
)
REQUESTS_SQL = (
    f'SELECT {FR_COLS}, i.id, i.kind, i."key", i.value FROM feedback_requests fr '
    "LEFT OUTER JOIN feedback_request_items i ON i.feedback_request_id = fr.id "
    "WHERE fr.id IN ({ids}) ORDER BY fr.id, i.id"
)
PG_ANSWERS_SQL = ANSWERS_SQL.replace("IN ({ids})", "= ANY($1::bigint[])")
PG_REQUESTS_SQL = REQUESTS_SQL.replace("IN ({ids})", "= ANY($1::bigint[])")
TYPE_NAMES = {
    "rating": "Rating",
    "text": "Text",
    "dropdown": "Dropdown",
    "radio": "Radio",
    "checkbox": "Checkbox",
}


def qmarks(sql: str) -> str:
    return re.sub(r"\$\d+", "?", sql)


def sqlite_items_sql(n: int) -> str:
    return (
        'SELECT feedback_request_id, id, kind, "key", value FROM feedback_request_items '
        f"WHERE feedback_request_id IN ({', '.join('?' * n)}) ORDER BY id"
    )


def sqlite_insert_items_sql(n: int) -> str:
    return (
        'INSERT INTO feedback_request_items (feedback_request_id, kind, "key", value) '
        f'VALUES {", ".join(["(?, ?, ?, ?)"] * n)} RETURNING id, kind, "key", value'
    )


# ---- representation: the same JSON as OpenSure's feedback_requests.schemas.to_json ----


def pg_ts(value: dt.datetime | None) -> str | None:
    # asyncpg hands timestamptz over as aware UTC datetimes.
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def sqlite_ts(value: str | None) -> str | None:
    # Stored by SQLAlchemy as naive UTC text: "YYYY-MM-DD HH:MM:SS.ffffff".
    return None if value is None else f"{value[:10]}T{value[11:19]}Z"


def sqlite_store_ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def to_json(row: Row, items: Sequence[Row], ts: Callable[[Any], str | None]) -> dict[str, Any]:
    """``row``: the 17 public columns; ``items``: (id, kind, key, value) tuples."""
    return {
        "id": row[0],
        "email": row[1],
        "state": row[2],
        "first_name": row[3],
        "surname": row[4],
        "survey_id": row[5],
        "email_template_id": row[6],
        "reference": row[7],
        "machine_id": row[8],
        "send_at": ts(row[9]),
        "sent_at": ts(row[10]),
        "created_at": ts(row[11]),
        "updated_at": ts(row[12]),
        "deletion_requested_at": ts(row[13]),
        "not_sent_reason": row[14],
        "delivery_failure": row[15],
        "reminder_sent_at": ts(row[16]),
        "data": [{"id": i[0], "key": i[2], "value": i[3]} for i in items if i[1] == "data"],
        "query_params": [
            {"id": i[0], "key": i[2], "value": i[3]} for i in items if i[1] == "query_param"
        ],
    }


def response_json(
    row: Row,
    answers: Sequence[Row],
    request: tuple[Row, list[Row]] | None,
    ts: Callable[[Any], str | None],
) -> dict[str, Any]:
    """``row``: RESPONSE_COLUMNS; ``answers``: (response id, question id, value, text, type);
    ``request``: its 16 columns and (id, kind, key, value) items."""
    fields: dict[str, Any] = {"email": row[5], "name": row[6], "telephone_number": row[7]}
    if request is not None:
        for i in request[1]:
            fields.setdefault(i[2], i[3])
    return {
        "id": row[0],
        "reference": row[1],
        "machine_id": row[2],
        "survey_id": row[3],
        "fields": fields,
        "answers": [
            {
                "question_id": a[1],
                "question": a[3],
                "answer": a[2],
                "type": TYPE_NAMES.get(a[4], a[4]),
            }
            for a in answers
        ],
        "submitted_at": ts(row[8]),
        "updated_at": ts(row[9]),
        "feedback_request": to_json(request[0], request[1], ts) if request is not None else None,
    }


def group_requests(rows: Sequence[Row]) -> dict[int, tuple[Row, list[Row]]]:
    """(request row, items) by id, from REQUESTS_SQL rows (one per item)."""
    out: dict[int, tuple[Row, list[Row]]] = {}
    for r in rows:
        found = out.get(r[0])
        if found is None:
            found = out[r[0]] = (r[:NCOLS], [])
        if r[NCOLS] is not None:
            found[1].append(r[NCOLS:])
    return out


ResponsesPage = tuple[int, list[Row], list[Row], list[Row]]

# ---- stores: the same operations over asyncpg, aiosqlite and sqlite3 ----


class PgStore:
    ts = staticmethod(pg_ts)

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, url: str) -> PgStore:
        # Up to 30 connections like OpenSure's engine (10 + 20 overflow), but idle ones are
        # closed after a second: while OpenSure is measured on the same PostgreSQL server, this
        # app must not sit on connections it would need (max_connections is often 100).
        pool = await asyncpg.create_pool(
            url, min_size=1, max_size=30, max_inactive_connection_lifetime=1.0
        )
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()

    async def account_id(self, token_hash: str) -> int | None:
        return await self.pool.fetchval(TOKEN_SQL, token_hash)

    async def get(self, account_id: int, request_id: int) -> list[Row]:
        return await self.pool.fetch(GET_SQL, request_id, account_id)

    async def page(
        self, account_id: int, limit: int, offset: int
    ) -> tuple[int, list[Row], list[Row]]:
        async with self.pool.acquire() as conn:
            total = await conn.fetchval(COUNT_SQL, account_id)
            if offset >= total:
                return total, [], []
            rows = await conn.fetch(PAGE_SQL, account_id, limit, offset)
            items = await conn.fetch(PG_ITEMS_SQL, [r[0] for r in rows]) if rows else []
        return total, rows, items

    async def responses(self, account_id: int, limit: int, offset: int) -> ResponsesPage:
        async with self.pool.acquire() as conn:
            total = await conn.fetchval(RESPONSES_COUNT_SQL, account_id)
            if offset >= total:
                return total, [], [], []
            rows = await conn.fetch(RESPONSES_PAGE_SQL, account_id, limit, offset)
            answers = await conn.fetch(PG_ANSWERS_SQL, [r[0] for r in rows])
            ids = [r[4] for r in rows if r[4] is not None]
            requests = await conn.fetch(PG_REQUESTS_SQL, ids) if ids else []
        return total, rows, answers, requests

    async def create(
        self, values: Sequence[Any], items: Sequence[tuple[str, str, str]]
    ) -> tuple[Row, list[Row]]:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(INSERT_SQL, *values)
            created: list[Row] = []
            if items:
                created = await conn.fetch(
                    PG_INSERT_ITEMS_SQL,
                    row[0],
                    [k for k, _, _ in items],
                    [key for _, key, _ in items],
                    [v for _, _, v in items],
                )
        return row, sorted(created)


SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


class AioSqliteStore:
    """aiosqlite connections (one thread each) handed out by a small lazy pool."""

    ts = staticmethod(sqlite_ts)

    def __init__(self, path: str, size: int = 15) -> None:
        # OpenSure's SQLAlchemy pool for a SQLite file: 5 kept + 10 overflow.
        self.path = path
        self.free: list[aiosqlite.Connection] = []
        self.slots = asyncio.Semaphore(size)

    async def close(self) -> None:
        for conn in self.free:
            await conn.close()

    @asynccontextmanager
    async def conn(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self.slots:
            if self.free:
                conn = self.free.pop()
            else:
                conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=30)
                for pragma in SQLITE_PRAGMAS:
                    await conn.execute(pragma)
            try:
                yield conn
            finally:
                self.free.append(conn)

    async def account_id(self, token_hash: str) -> int | None:
        async with self.conn() as conn:
            rows = await conn.execute_fetchall(qmarks(TOKEN_SQL), (token_hash,))
        rows = list(rows)
        return rows[0][0] if rows else None

    async def get(self, account_id: int, request_id: int) -> list[Row]:
        async with self.conn() as conn:
            return list(await conn.execute_fetchall(SQLITE_GET_SQL, (request_id, account_id)))

    async def page(
        self, account_id: int, limit: int, offset: int
    ) -> tuple[int, list[Row], list[Row]]:
        async with self.conn() as conn:
            total = next(iter(await conn.execute_fetchall(SQLITE_COUNT_SQL, (account_id,))))[0]
            if offset >= total:
                return total, [], []
            rows = list(await conn.execute_fetchall(SQLITE_PAGE_SQL, (account_id, limit, offset)))
            ids = [r[0] for r in rows]
            items = (
                list(await conn.execute_fetchall(sqlite_items_sql(len(ids)), ids)) if ids else []
            )
        return total, rows, items

    async def responses(self, account_id: int, limit: int, offset: int) -> ResponsesPage:
        async with self.conn() as conn:
            count = await conn.execute_fetchall(qmarks(RESPONSES_COUNT_SQL), (account_id,))
            total = next(iter(count))[0]
            if offset >= total:
                return total, [], [], []
            rows = list(
                await conn.execute_fetchall(qmarks(RESPONSES_PAGE_SQL), (account_id, limit, offset))
            )
            rids = [r[0] for r in rows]
            answers = list(
                await conn.execute_fetchall(
                    ANSWERS_SQL.format(ids=", ".join("?" * len(rids))), rids
                )
            )
            ids = [r[4] for r in rows if r[4] is not None]
            requests = (
                list(
                    await conn.execute_fetchall(
                        REQUESTS_SQL.format(ids=", ".join("?" * len(ids))), ids
                    )
                )
                if ids
                else []
            )
        return total, rows, answers, requests

    async def create(
        self, values: Sequence[Any], items: Sequence[tuple[str, str, str]]
    ) -> tuple[Row, list[Row]]:
        async with self.conn() as conn:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                row = next(iter(await conn.execute_fetchall(SQLITE_INSERT_SQL, values)))
                created: list[Row] = []
                if items:
                    params = [p for it in items for p in (row[0], *it)]
                    created = list(
                        await conn.execute_fetchall(sqlite_insert_items_sql(len(items)), params)
                    )
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
        return row, sorted(created)


class SyncSqliteStore:
    """The stdlib sqlite3 module on the event loop: one connection, blocking calls."""

    ts = staticmethod(sqlite_ts)

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        for pragma in SQLITE_PRAGMAS:
            self.db.execute(pragma)

    async def close(self) -> None:
        self.db.close()

    async def account_id(self, token_hash: str) -> int | None:
        row = self.db.execute(qmarks(TOKEN_SQL), (token_hash,)).fetchone()
        return row[0] if row else None

    async def get(self, account_id: int, request_id: int) -> list[Row]:
        return self.db.execute(SQLITE_GET_SQL, (request_id, account_id)).fetchall()

    async def page(
        self, account_id: int, limit: int, offset: int
    ) -> tuple[int, list[Row], list[Row]]:
        total = self.db.execute(SQLITE_COUNT_SQL, (account_id,)).fetchone()[0]
        if offset >= total:
            return total, [], []
        rows = self.db.execute(SQLITE_PAGE_SQL, (account_id, limit, offset)).fetchall()
        ids = [r[0] for r in rows]
        items = self.db.execute(sqlite_items_sql(len(ids)), ids).fetchall() if ids else []
        return total, rows, items

    async def responses(self, account_id: int, limit: int, offset: int) -> ResponsesPage:
        db = self.db
        total = db.execute(qmarks(RESPONSES_COUNT_SQL), (account_id,)).fetchone()[0]
        if offset >= total:
            return total, [], [], []
        rows = db.execute(qmarks(RESPONSES_PAGE_SQL), (account_id, limit, offset)).fetchall()
        rids = [r[0] for r in rows]
        answers = db.execute(ANSWERS_SQL.format(ids=", ".join("?" * len(rids))), rids).fetchall()
        ids = [r[4] for r in rows if r[4] is not None]
        sql = REQUESTS_SQL.format(ids=", ".join("?" * len(ids)))
        requests = db.execute(sql, ids).fetchall() if ids else []
        return total, rows, answers, requests

    async def create(
        self, values: Sequence[Any], items: Sequence[tuple[str, str, str]]
    ) -> tuple[Row, list[Row]]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(SQLITE_INSERT_SQL, values).fetchone()
            created: list[Row] = []
            if items:
                params = [p for it in items for p in (row[0], *it)]
                created = db.execute(sqlite_insert_items_sql(len(items)), params).fetchall()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return row, sorted(created)


SQLITE_GET_SQL = qmarks(GET_SQL)
SQLITE_COUNT_SQL = qmarks(COUNT_SQL)
SQLITE_PAGE_SQL = qmarks(PAGE_SQL)
SQLITE_INSERT_SQL = qmarks(INSERT_SQL)

Store = PgStore | AioSqliteStore | SyncSqliteStore


async def open_store(url: str, sqlite_driver: str) -> Store:
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if sqlite_driver == "sqlite3":
            return SyncSqliteStore(path)
        return AioSqliteStore(path)
    if url.startswith(("postgresql://", "postgres://")):
        return await PgStore.open(url)
    raise ValueError(f"unsupported database URL {url!r}")


# ---- the app ----


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(content), status_code, headers, media_type=JSON_TYPE)


def error(status_code: int, message: str) -> Response:
    return json_response({"message": message}, status_code)


def parse_send_at(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def create_app() -> Starlette:
    url = os.environ["BENCH_BASELINE_DATABASE_URL"]
    sqlite_driver = os.environ.get("BENCH_BASELINE_SQLITE_DRIVER", "aiosqlite")
    public = os.environ.get("BENCH_BASELINE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
    is_pg = not url.startswith("sqlite")
    tokens: dict[str, int] = {}
    state: dict[str, Store] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["store"] = await open_store(url, sqlite_driver)
        try:
            yield
        finally:
            await state["store"].close()

    async def account_of(request: Request) -> int | Response:
        headers = request.headers
        if not headers.get("user-agent", "").strip():
            return error(403, "Missing or invalid User Agent string")
        if MEDIA_TYPE not in headers.get("accept", "").lower():
            return error(406, f"Send 'Accept: {MEDIA_TYPE}'")
        match = _TOKEN.match(headers.get("authorization", ""))
        if match is None:
            return error(401, "Bad credentials")
        digest = hashlib.sha256(match[1].encode()).hexdigest()
        account = tokens.get(digest)
        if account is None:
            account = await state["store"].account_id(digest)
            if account is None:
                return error(401, "Bad credentials")
            tokens[digest] = account
        return account

    async def get_one(request: Request) -> Response:
        account = await account_of(request)
        if isinstance(account, Response):
            return account
        raw = request.path_params["id"]
        if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
            return error(404, "Not Found")
        store = state["store"]
        rows = await store.get(account, int(raw))
        if not rows:
            return error(404, "Not Found")
        items = [r[NCOLS:] for r in rows if r[NCOLS] is not None]
        return json_response(to_json(rows[0], items, store.ts))

    async def list_page(request: Request) -> Response:
        account = await account_of(request)
        if isinstance(account, Response):
            return account
        query = request.query_params
        try:
            page = max(1, int(query.get("page") or 1))
            per_page = min(max(1, int(query.get("per_page") or 30)), 100)
        except ValueError:
            return error(422, "Validation error")
        store = state["store"]
        total, rows, items = await store.page(account, per_page, (page - 1) * per_page)
        by_request: dict[int, list[Row]] = {r[0]: [] for r in rows}
        for it in items:
            by_request[it[0]].append(it[1:])
        body = [to_json(r, by_request[r[0]], store.ts) for r in rows]
        return paged(request, body, page, per_page, total)

    async def list_responses(request: Request) -> Response:
        account = await account_of(request)
        if isinstance(account, Response):
            return account
        query = request.query_params
        try:
            page = max(1, int(query.get("page") or 1))
            per_page = min(max(1, int(query.get("per_page") or 30)), 100)
        except ValueError:
            return error(422, "Validation error")
        store = state["store"]
        total, rows, answers, requests = await store.responses(
            account, per_page, (page - 1) * per_page
        )
        by_response: dict[int, list[Row]] = {r[0]: [] for r in rows}
        for a in answers:
            by_response[a[0]].append(a)
        embedded = group_requests(requests)
        body = [response_json(r, by_response[r[0]], embedded.get(r[4]), store.ts) for r in rows]
        return paged(request, body, page, per_page, total)

    def paged(request: Request, body: list[Any], page: int, per_page: int, total: int) -> Response:
        query = request.query_params
        pages = max(1, -(-total // per_page))
        kept = [(k, v) for k, v in query.multi_items() if k != "page"]
        base = public + request.url.path

        def link(number: int, rel: str) -> str:
            return f'<{base}?{urlencode([*kept, ("page", str(number))])}>; rel="{rel}"'

        links = [link(1, "first")]
        if page > 1:
            links.append(link(min(page - 1, pages), "prev"))
        if page < pages:
            links.append(link(page + 1, "next"))
        links.append(link(pages, "last"))
        headers = {
            "Link": ", ".join(links),
            "X-Total-Count": str(total),
            "X-Total-Pages": str(pages),
        }
        return json_response(body, 200, headers)

    async def create(request: Request) -> Response:
        account = await account_of(request)
        if isinstance(account, Response):
            return account
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return error(400, "Problems parsing JSON")
        if not isinstance(body, dict):
            return error(400, "Problems parsing JSON")
        email = body.get("email")
        send_at = parse_send_at(body.get("send_at"))
        survey_id = body.get("survey_id")
        items: list[tuple[str, str, str]] = []
        for field, kind in (("data", "data"), ("query_params", "query_param")):
            for entry in body.get(field) or []:
                items.append((kind, str(entry["key"]), str(entry.get("value", ""))))
        if (
            not isinstance(email, str)
            or "@" not in email
            or send_at is None
            or not isinstance(survey_id, int)
        ):
            return error(422, "Validation error")
        now = dt.datetime.now(dt.UTC)
        stamp: Callable[[dt.datetime], Any] = (lambda d: d) if is_pg else sqlite_store_ts
        values = (
            account,
            survey_id,
            email,
            body.get("first_name"),
            body.get("surname"),
            body.get("reference"),
            body.get("machine_id"),
            body.get("email_template_id"),
            "pending",
            stamp(send_at),
            stamp(now),
            stamp(now),
            secrets.token_urlsafe(24),
        )
        store = state["store"]
        row, created = await store.create(values, items)
        location = f"{public}/feedback_requests/{row[0]}"
        return json_response(to_json(row, created, store.ts), 201, {"Location": location})

    return Starlette(
        routes=[
            Route("/feedback_requests", list_page, methods=["GET"]),
            Route("/feedback_requests", create, methods=["POST"]),
            Route("/feedback_requests/{id}", get_one, methods=["GET"]),
            Route("/feedback_responses", list_responses, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    """``python -m bench.baseline_app --host H --port P --workers N``: under the supervisor that
    ``opensure serve`` uses (``opensure.ops.workers``: a listening socket per worker), so both
    sides of ``bench.api`` spread their connections over their workers the same way."""
    import argparse

    import uvicorn

    from opensure.ops import workers

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    opts = p.parse_args()
    workers.run(
        uvicorn.Config(
            "bench.baseline_app:create_app",
            factory=True,
            host=opts.host,
            port=opts.port,
            workers=opts.workers,
            access_log=False,
            log_level="info",
        )
    )


if __name__ == "__main__":
    main()
