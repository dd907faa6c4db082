"""Installation-wide settings kept in the database (shared by every process)."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.models import InstanceSetting

_settings = InstanceSetting.__table__


async def instance_secret(conn: AsyncConnection) -> str:
    """The installation's random secret, made on first use and shared by every process."""
    t = _settings
    found = (await conn.execute(select(t.c.value).where(t.c.key == "secret_key"))).scalar()
    if found:
        return str(found)
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(
        dialect_insert(t)
        .values(key="secret_key", value=secrets.token_hex(32))
        .on_conflict_do_nothing()
    )
    return str((await conn.execute(select(t.c.value).where(t.c.key == "secret_key"))).scalar_one())
