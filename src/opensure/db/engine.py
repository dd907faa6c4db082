"""Engine factory (SQLite | PostgreSQL) and each backend's connection settings."""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_url(url: str) -> URL:
    """Turn a user-facing URL (``sqlite:///x.db``, ``postgresql://…``) into its async form."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        return u.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        query = dict(u.query)
        # asyncpg spells libpq's sslmode as ssl.
        if "sslmode" in query:
            query["ssl"] = query.pop("sslmode")
        return u.set(drivername="postgresql+asyncpg", query=query)
    raise ValueError(f"unsupported database URL scheme {u.drivername!r}: use sqlite or postgresql")


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Build the async engine with each backend's settings for concurrent use."""
    aurl = async_url(url)
    if aurl.get_backend_name() == "sqlite":
        # As large as the concurrency one process sees, so bursts reuse connections instead of
        # opening (and closing) overflow ones.
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", 20)
        engine = create_async_engine(aurl, connect_args={"timeout": 30}, **kwargs)
        _tune_sqlite(engine)
        return SqliteEngine(engine.sync_engine)
    # PostgreSQL's connections are a shared budget (max_connections, 100 by default): at most
    # 20 per process, so several API processes and dispatchers fit (docs/deploy.md): 10 here,
    # 10 in the driver-level pool of the hot paths (opensure.db.fast). No overflow: connections
    # opened for a burst and closed after it cost more than waiting for a pooled one.
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 0)
    kwargs.setdefault("pool_timeout", 10)
    # No pre-ping: on asyncpg it is three round trips per check-out. A connection that died
    # (database restarted) fails its first statement instead: that request gets a 503, and
    # SQLAlchemy then discards every older connection of the pool.
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", 1800)
    return create_async_engine(aurl, **kwargs)


# Every SQLite connection, SQLAlchemy's and the driver-level ones of opensure.db.fast.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


def driver_dsn(database_url: str) -> str:
    """A PostgreSQL URL as the bare asyncpg driver takes it (no ``+driver`` suffix)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _tune_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take over transaction control from the driver so writers can BEGIN IMMEDIATE:
        # a deferred BEGIN that later upgrades to a write fails at once when another
        # connection wrote in between, instead of waiting for the lock.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in SQLITE_PRAGMAS:
            cur.execute(pragma)
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get("opensure_read") or options.get("isolation_level") == "AUTOCOMMIT":
            return  # the driver is in autocommit: each read statement stands alone
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def reader(engine: AsyncEngine) -> AsyncEngine:
    """A view of the engine for read-only work: no BEGIN/COMMIT round trips."""
    if engine.dialect.name == "sqlite":
        # The driver already runs in autocommit (see _tune_sqlite); switching SQLAlchemy's
        # isolation level would cost extra thread hops at every check-out and check-in.
        return engine.execution_options(opensure_read=True)
    return engine.execution_options(isolation_level="AUTOCOMMIT")


# ---- SQLite: one writer at a time per process ----
#
# SQLite has one write lock per file. Writers of one process that wait for it inside SQLite
# spin on busy_timeout (sleeping and retrying), which wastes time and, past the timeout, fails.
# So every writer of a process takes a turn first: the SQLAlchemy engine's transactions
# (SqliteEngine.begin: PATCH, the pages, the embedded dispatcher, the CLI) and the fast path's
# writer (opensure.db.fast.SqliteDirect) queue on the same asyncio lock, per database file and
# event loop. Only writers of other processes still meet at SQLite's lock.

_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def write_turn(path: str | None) -> asyncio.Lock:
    """The lock every writer of this process takes before writing to the SQLite file."""
    key = os.path.abspath(path) if path and path != ":memory:" else ":memory:"
    locks = _turns.setdefault(asyncio.get_running_loop(), {})
    lock = locks.get(key)
    if lock is None:
        lock = locks[key] = asyncio.Lock()
    return lock


class SqliteEngine(AsyncEngine):
    """An engine whose write transactions take the process's write turn (see write_turn).

    Reads (``reader(engine)``, ``engine.connect()``) do not queue: WAL lets them run beside a
    writer. A write transaction must not open another one inside it (it would wait for itself).
    """

    __slots__ = ()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Any]:
        async with write_turn(self.sync_engine.url.database), super().begin() as conn:
            yield conn
