"""Schema upgrades through Alembic, callable from the CLI, the server and tests."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import AsyncIterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


# Any constant: processes starting together on one PostgreSQL migrate one after the other.
_MIGRATION_LOCK = 7_412_036_518


@contextlib.asynccontextmanager
async def _sqlite_file_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Processes migrating one SQLite file take turns (an OS lock on a file beside it).

    SQLite's own write lock is not enough: Alembic runs SQLite DDL outside a transaction
    (no transactional DDL), so a second process could read the old version meanwhile.
    """
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate-lock", "a") as lock:  # noqa: ASYNC230 (creating an empty file)
        await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe when several processes start at once."""
    async with _sqlite_file_lock(engine), engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # Held until this transaction ends; the next process then finds nothing to do.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        await conn.run_sync(_upgrade, revision)
        await conn.commit()


async def ensure_current(engine: AsyncEngine) -> None:
    """Upgrade only when needed: the check is a read, so it takes no write lock."""
    if not await is_current(engine):
        await upgrade(engine)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.connect() as conn:
        await conn.run_sync(_downgrade, revision)
        await conn.commit()


def _current(connection: Connection) -> tuple[str | None, str | None]:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return MigrationContext.configure(connection).get_current_revision(), head


async def is_current(engine: AsyncEngine) -> bool:
    """True when the database is at the newest schema revision."""
    async with engine.connect() as conn:
        current, head = await conn.run_sync(_current)
    return current == head
