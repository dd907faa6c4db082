"""Objects created with an id chosen by the operator (switching from CustomerSure keeps the ids
that clients hard-code), and the id sequence moved past it so later objects never collide."""

from __future__ import annotations

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.core.errors import AdminError

# Both engines store ids as signed 64-bit integers.
ID_MAX = 2**63 - 1


async def id_taken(conn: AsyncConnection, table: Table, object_id: int) -> bool:
    """Whether any row of ``table`` (of any account) has this id."""
    found = await conn.execute(select(table.c.id).where(table.c.id == object_id))
    return found.first() is not None


async def move_sequence_past_max(conn: AsyncConnection, table: Table) -> None:
    """After inserting an explicit id: PostgreSQL's sequence of ``table.id`` continues after the
    largest id (never backwards). SQLite needs nothing: a new rowid, AUTOINCREMENT or not, is
    always past the largest one."""
    if conn.dialect.name != "postgresql":
        return
    largest = (await conn.execute(select(func.max(table.c.id)))).scalar()
    if largest is None:
        return
    await conn.execute(
        text(
            "SELECT setval(pg_get_serial_sequence(:t, 'id'), "
            "greatest(:largest, nextval(pg_get_serial_sequence(:t, 'id')) - 1))"
        ),
        {"t": table.name, "largest": int(largest)},
    )


def chosen_id(value: int, what: str) -> int:
    """An id the operator gave (``--id``): a positive integer that fits a 64-bit id column."""
    if value < 1 or value > ID_MAX:
        raise AdminError(f"--id: a {what} id is a whole number from 1 to {ID_MAX}, not {value}")
    return value
