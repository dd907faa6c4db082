"""The data layer's foundation: engine factory, base and column types, the fast path
(:mod:`opensure.db.fast`), NOTIFY wake-ups (:mod:`opensure.db.notify`), the migration runner
(:mod:`opensure.db.migrate`) and :data:`~opensure.db.rows.AnyRow` for annotating result rows.
Repositories take a :class:`opensure.db.fast.Session` or a SQLAlchemy connection; nothing above
the repositories writes SQL."""

from opensure.db.base import NAMING_CONVENTION, Base, BigId, UTCDateTime
from opensure.db.engine import (
    SQLITE_PRAGMAS,
    async_url,
    create_engine,
    driver_dsn,
    is_sqlite,
    reader,
)
from opensure.db.rows import AnyRow

__all__ = [
    "NAMING_CONVENTION",
    "SQLITE_PRAGMAS",
    "AnyRow",
    "Base",
    "BigId",
    "UTCDateTime",
    "async_url",
    "create_engine",
    "driver_dsn",
    "is_sqlite",
    "reader",
]
