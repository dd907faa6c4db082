"""Hand-written SQL on the bare driver, for the API's hot paths.

A request through SQLAlchemy's ``AsyncConnection`` costs 400 to 500 µs of CPU before and after the
database's own work (pool check-out, greenlet, compiled cache, result processing; on SQLite also
four aiosqlite thread hops per statement). The same query through an asyncpg pool costs about
120 µs, through one aiosqlite connection about 40 µs (docs/benchmarks.md). So the feedback
request endpoints that clients call most run their statements here:

* :class:`Query` — one statement written once with ``$1``-style parameters; SQLite gets the
  same text with ``?1`` (numbered, so a parameter may appear twice).
* :class:`Session` — ``fetch`` / ``fetchrow`` / ``execute`` on one connection, the same for
  an asyncpg connection, an aiosqlite connection, and a SQLAlchemy ``AsyncConnection`` (so code
  written against a session also runs inside a transaction the ORM-side code opened).
* :class:`Direct` — the process's driver-level pools: ``read()`` for autocommit reads and
  ``transaction()`` for writes. PostgreSQL: an asyncpg pool (half of the process's connection
  budget; SQLAlchemy's pool has the other half). SQLite: a few reader connections used round
  robin and one writer connection whose transactions (``BEGIN IMMEDIATE``) take turns with
  every other writer of the process (``opensure.db.engine.write_turn``), so they queue in
  memory instead of spinning on the database lock.

Values come back as the driver gives them: timestamps are aware datetimes on PostgreSQL and
text (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC, as SQLAlchemy stores them) on SQLite;
``opensure.api.timestamps.format`` formats either, :meth:`Session.ts` prepares a datetime
for binding.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol, cast

import aiosqlite
import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.db.engine import SQLITE_PRAGMAS, driver_dsn, write_turn

Record = Sequence[Any]


class Query:
    """One SQL statement with ``$n`` parameters, and its SQLite spelling with ``?n``."""

    __slots__ = ("postgresql", "sqlite")

    def __init__(self, postgresql: str, sqlite: str | None = None) -> None:
        self.postgresql = postgresql
        self.sqlite = sqlite if sqlite is not None else re.sub(r"\$(\d+)", r"?\1", postgresql)

    def __repr__(self) -> str:
        return f"Query({self.postgresql!r})"


def sqlite_timestamp(value: dt.datetime) -> str:
    """A datetime as SQLAlchemy's ``DateTime`` stores it on SQLite (naive UTC, microseconds)."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def in_list(column: str, n: int, pg_type: str = "bigint") -> tuple[str, str]:
    """``column`` is one of the values of list parameter ``n`` (see :func:`list_param`): the
    PostgreSQL and the SQLite spelling."""
    return f"{column} = ANY(${n}::{pg_type}[])", f"{column} IN (SELECT value FROM json_each(?{n}))"


class Where:
    """A WHERE clause over numbered parameters, spelled for both engines as it is built."""

    def __init__(self) -> None:
        self.postgresql: list[str] = []
        self.sqlite: list[str] = []
        self.params = 0

    def add(self, condition: str) -> None:
        """A condition on the next parameters, written with ``{}`` where each goes, in order
        (``(send_at, id) < ({}, {})`` takes two)."""
        numbers = range(self.params + 1, self.params + 1 + condition.count("{}"))
        self.params += len(numbers)
        self.postgresql.append(condition.format(*(f"${n}" for n in numbers)))
        self.sqlite.append(condition.format(*(f"?{n}" for n in numbers)))

    def add_in(self, column: str, pg_type: str = "bigint") -> None:
        """``column`` is one of the next parameter's values (a list parameter)."""
        self.params += 1
        pg, lite = in_list(column, self.params, pg_type)
        self.postgresql.append(pg)
        self.sqlite.append(lite)


class Session(Protocol):
    dialect: str

    async def fetch(self, query: Query, *args: Any) -> list[Record]: ...

    async def fetchrow(self, query: Query, *args: Any) -> Record | None: ...

    async def execute(self, query: Query, *args: Any) -> None: ...

    async def executemany(self, query: Query, rows: Sequence[Sequence[Any]]) -> None: ...

    def ts(self, value: dt.datetime) -> Any: ...


class PgSession:
    dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection | PoolConnectionProxy) -> None:
        self.conn = conn

    # asyncpg's Record indexes, slices and iterates like a tuple, though its stubs do not call it
    # a Sequence: the casts say so instead of copying every row.
    async def fetch(self, query: Query, *args: Any) -> list[Record]:
        return cast(list[Record], await self.conn.fetch(query.postgresql, *args))

    async def fetchrow(self, query: Query, *args: Any) -> Record | None:
        return cast(Record | None, await self.conn.fetchrow(query.postgresql, *args))

    async def execute(self, query: Query, *args: Any) -> None:
        await self.conn.execute(query.postgresql, *args)

    async def executemany(self, query: Query, rows: Sequence[Sequence[Any]]) -> None:
        # One round trip for all rows, atomic on its own (asyncpg's pipelined executemany).
        await self.conn.executemany(query.postgresql, rows)

    def ts(self, value: dt.datetime) -> Any:
        return value


class SqliteSession:
    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def fetch(self, query: Query, *args: Any) -> list[Record]:
        return list(await self.conn.execute_fetchall(query.sqlite, args))

    async def fetchrow(self, query: Query, *args: Any) -> Record | None:
        rows = await self.conn.execute_fetchall(query.sqlite, args)
        return next(iter(rows), None)

    async def execute(self, query: Query, *args: Any) -> None:
        await self.conn.execute_fetchall(query.sqlite, args)

    async def executemany(self, query: Query, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(query.sqlite, rows)

    def ts(self, value: dt.datetime) -> Any:
        return sqlite_timestamp(value)


class SaSession:
    """A session over a SQLAlchemy connection: the same SQL inside the ORM side's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    def _sql(self, query: Query) -> str:
        return query.postgresql if self.dialect == "postgresql" else query.sqlite

    async def fetch(self, query: Query, *args: Any) -> list[Record]:
        return list((await self.conn.exec_driver_sql(self._sql(query), args)).all())

    async def fetchrow(self, query: Query, *args: Any) -> Record | None:
        return (await self.conn.exec_driver_sql(self._sql(query), args)).first()

    async def execute(self, query: Query, *args: Any) -> None:
        await self.conn.exec_driver_sql(self._sql(query), args)

    async def executemany(self, query: Query, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self.conn.exec_driver_sql(self._sql(query), [tuple(r) for r in rows])

    def ts(self, value: dt.datetime) -> Any:
        return value if self.dialect == "postgresql" else sqlite_timestamp(value)


class Direct(Protocol):
    dialect: str

    def read(self) -> Any: ...

    def read_planned(self, custom: bool = True) -> Any: ...

    def transaction(self) -> Any: ...

    async def close(self) -> None: ...


# Pages that start this deep into a list are planned for their values (read_planned).
DEEP_OFFSET = 1000


def needs_custom_plan(offset: int, *, window: bool = False) -> bool:
    """Whether a list read should be planned for its values: deep pages, and filters by a
    time window (whose width changes the best plan)."""
    return window or offset >= DEEP_OFFSET


# A connection the server dropped mid-operation (restart, failover) can be left in a state
# asyncpg refuses to use again ("cannot switch to state ..."): it is closed, not pooled again.
BROKEN = (asyncpg.InterfaceError, asyncpg.InternalClientError, ConnectionError)


class DirectConnection(asyncpg.Connection):
    """A connection of the fast path's pool, which knows what it changed in its session.

    asyncpg resets every connection released to a pool with ``SELECT pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL``: one round trip more on every request, about a tenth of
    a GET by id's CPU (py-spy, bench/profile.py). The fast path takes no advisory lock, opens no
    cursor outside a transaction and listens on no channel of this pool (the dispatchers'
    LISTEN has a connection of its own, ``db.notify``); the one session setting it changes is
    ``plan_cache_mode`` in ``read_planned``, marked here and undone by :func:`_reset_session`.
    An open transaction is still rolled back on release (asyncpg does that before the reset).
    """

    __slots__ = ("_custom_plans",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._custom_plans = False

    async def plan_for_values(self) -> None:
        """Plan every statement for its parameters until release (``read_planned``)."""
        self._custom_plans = True
        await self.execute("SET plan_cache_mode = force_custom_plan")


async def _reset_session(connection: asyncpg.Connection) -> None:
    """The pool's reset on release: undo what this connection changed, nothing more."""
    conn = cast(DirectConnection, connection)
    if conn._custom_plans:
        await conn.execute("RESET plan_cache_mode")
        conn._custom_plans = False


class PgDirect:
    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def read(self) -> AsyncIterator[PgSession]:
        async with self.pool.acquire() as conn:
            try:
                yield PgSession(conn)
            except BROKEN:
                conn.terminate()
                raise

    @asynccontextmanager
    async def read_planned(self, custom: bool = True) -> AsyncIterator[PgSession]:
        """A read whose statements PostgreSQL plans for their actual parameters (``custom``).

        The statements stay prepared (asyncpg's cache), but after five runs PostgreSQL may
        switch a prepared statement to a generic plan that ignores the values: for an OFFSET
        deep into a million rows that plan can be a sequential scan (about 200 ms instead of
        10 ms). The setting lasts until the connection goes back to the pool, whose reset
        undoes it (``DirectConnection``): two round trips more, and PostgreSQL plans every run.
        So list pages ask for it only where a generic plan can go wrong (``needs_custom_plan``):
        the first pages walk the index the same way under either plan.
        """
        async with self.pool.acquire() as conn:
            try:
                if custom:
                    await cast(DirectConnection, conn).plan_for_values()
                yield PgSession(conn)
            except BROKEN:
                conn.terminate()
                raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgSession]:
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    yield PgSession(conn)
            except BROKEN:
                conn.terminate()
                raise

    async def close(self) -> None:
        await self.pool.close()


class SqliteDirect:
    dialect = "sqlite"

    def __init__(self, path: str, readers: int) -> None:
        self.path = path
        self.readers: list[aiosqlite.Connection] = []
        self.writer: aiosqlite.Connection | None = None
        self.n_readers = readers
        self._next = itertools.count()
        self._opening = asyncio.Lock()

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None, timeout=30)
        for pragma in SQLITE_PRAGMAS:
            await conn.execute(pragma)
        return conn

    async def _open(self) -> None:
        # Lazily, on first use: a process starts (and answers 503) while the file is away.
        async with self._opening:
            if self.writer is None:
                readers = [await self._connect() for _ in range(self.n_readers)]
                self.writer, self.readers = await self._connect(), readers

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqliteSession]:
        if self.writer is None:
            await self._open()
        # aiosqlite runs one thread per connection and queues concurrent calls on it; reads
        # are short, so a few connections used in turn serve any number of requests.
        yield SqliteSession(self.readers[next(self._next) % len(self.readers)])

    @asynccontextmanager
    async def read_planned(self, custom: bool = True) -> AsyncIterator[SqliteSession]:
        # SQLite plans every statement for its values: nothing to ask for.
        async with self.read() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteSession]:
        if self.writer is None:
            await self._open()
        assert self.writer is not None
        # The same turn as the SQLAlchemy engine's writers of this process (db.engine).
        async with write_turn(self.path):
            conn = self.writer
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteSession(conn)
            except BaseException:
                await conn.rollback()
                raise
            await conn.commit()

    async def close(self) -> None:
        for conn in [*self.readers, *([self.writer] if self.writer else [])]:
            await conn.close()
        self.readers, self.writer = [], None


# Of the 20 PostgreSQL connections a process may hold (docs/deploy.md), the driver-level pool
# has this many; SQLAlchemy's pool (create_engine) has the rest.
PG_POOL_SIZE = 10
SQLITE_READERS = 4


async def open_direct(database_url: str) -> Direct:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = url.database or ":memory:"
        return SqliteDirect(path, SQLITE_READERS)
    # min_size=0: connections are opened on first use, so a process starts while the
    # database is away and answers 503 until it is back.
    pool = await asyncpg.create_pool(
        driver_dsn(database_url),
        min_size=0,
        max_size=PG_POOL_SIZE,
        max_inactive_connection_lifetime=1800,
        connection_class=DirectConnection,
        reset=_reset_session,
    )
    return PgDirect(pool)


def list_param(session: Session, values: Sequence[Any]) -> Any:
    """A list parameter: an array for asyncpg, JSON text for SQLite's ``json_each``."""
    return list(values) if session.dialect == "postgresql" else orjson.dumps(list(values)).decode()
