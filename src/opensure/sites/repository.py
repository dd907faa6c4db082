"""All SQL for sites."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.db import AnyRow
from opensure.models import Site, SiteAlias

site = Site.__table__
alias = SiteAlias.__table__
COLUMNS = (
    site.c.id,
    site.c.site_code,
    site.c.name,
    site.c.city,
    site.c.region,
    site.c.country_code,
)


async def by_code(
    conn: AsyncConnection, account_id: int, code: str, *, lock: bool = False
) -> AnyRow | None:
    stmt = select(*COLUMNS).where(site.c.account_id == account_id, site.c.site_code == code)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).first()


async def alias_target(conn: AsyncConnection, account_id: int, code: str) -> str | None:
    """The current code of a site formerly known as ``code``."""
    stmt = (
        select(site.c.site_code)
        .join(alias, alias.c.site_id == site.c.id)
        .where(alias.c.account_id == account_id, alias.c.site_code == code)
    )
    return (await conn.execute(stmt)).scalar()


async def code_taken(conn: AsyncConnection, account_id: int, code: str) -> bool:
    stmt = select(site.c.id).where(site.c.account_id == account_id, site.c.site_code == code)
    return (await conn.execute(stmt)).first() is not None


async def insert_site(conn: AsyncConnection, values: dict[str, Any]) -> AnyRow:
    await drop_alias(conn, values["account_id"], values["site_code"])
    return (await conn.execute(insert(site).values(**values).returning(*COLUMNS))).one()


async def update_site(conn: AsyncConnection, site_id: int, values: dict[str, Any]) -> AnyRow:
    return (
        await conn.execute(
            update(site).where(site.c.id == site_id).values(**values).returning(*COLUMNS)
        )
    ).one()


async def drop_alias(conn: AsyncConnection, account_id: int, code: str) -> None:
    """A code in use by a site is no longer an alias of another one."""
    await conn.execute(
        delete(alias).where(alias.c.account_id == account_id, alias.c.site_code == code)
    )


async def add_alias(conn: AsyncConnection, account_id: int, code: str, site_id: int) -> None:
    await drop_alias(conn, account_id, code)
    await conn.execute(insert(alias).values(account_id=account_id, site_code=code, site_id=site_id))


async def aliases(conn: AsyncConnection, account_id: int) -> dict[str, list[str]]:
    """The former codes of the account's renamed sites, by their current code."""
    stmt = (
        select(site.c.site_code, alias.c.site_code.label("alias"))
        .join(alias, alias.c.site_id == site.c.id)
        .where(alias.c.account_id == account_id)
        .order_by(site.c.site_code, alias.c.site_code)
    )
    found: dict[str, list[str]] = {}
    for code, old in await conn.execute(stmt):
        found.setdefault(str(code), []).append(str(old))
    return found


async def delete_site(conn: AsyncConnection, site_id: int) -> None:
    await conn.execute(delete(site).where(site.c.id == site_id))


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _register_unicode_lower(sync_conn: Any) -> None:
    """SQLite's own lower() folds ASCII only; give this connection one that folds any letter."""
    pooled = sync_conn.connection
    if not pooled.info.get("opensure_unicode_lower"):
        pooled.dbapi_connection.create_function(
            "opensure_unicode_lower", 1, _unicode_lower, deterministic=True
        )
        pooled.info["opensure_unicode_lower"] = True


async def _name_key(conn: AsyncConnection) -> Any:
    """The site name folded to lower case, for sorting case-insensitively."""
    if conn.dialect.name == "sqlite":
        await conn.run_sync(_register_unicode_lower)
        return func.opensure_unicode_lower(site.c.name)
    return func.lower(site.c.name)


async def list_page(
    conn: AsyncConnection, account_id: int, *, limit: int, offset: int
) -> tuple[list[AnyRow], int]:
    where = site.c.account_id == account_id
    total = (await conn.execute(select(func.count()).select_from(site).where(where))).scalar_one()
    if offset >= total:
        return [], total
    stmt = (
        select(*COLUMNS)
        .where(where)
        .order_by(await _name_key(conn), site.c.site_code)
        .limit(limit)
        .offset(offset)
    )
    return list((await conn.execute(stmt)).all()), total
