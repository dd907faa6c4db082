"""Dependencies shared by the endpoints: the caller's account and database connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection


async def _account_id(request: Request) -> int:
    # Set by ApiGate after the token check; every versioned endpoint runs behind it.
    # (async: FastAPI runs a plain function dependency in a worker thread, a costly hop.)
    return int(request.state.account_id)


AccountId = Annotated[int, Depends(_account_id)]


@asynccontextmanager
async def transaction(request: Request) -> AsyncIterator[AsyncConnection]:
    """One transaction for the request's writes: committed on success, rolled back on error."""
    async with request.app.state.engine.begin() as conn:
        yield conn


@asynccontextmanager
async def read(request: Request) -> AsyncIterator[AsyncConnection]:
    """An autocommit connection for reads: no BEGIN/COMMIT round trips."""
    async with request.app.state.reader.connect() as conn:
        yield conn


@asynccontextmanager
async def read_planned(request: Request) -> AsyncIterator[AsyncConnection]:
    """A read whose statements PostgreSQL plans for their actual parameters.

    asyncpg prepares statements, and after five runs PostgreSQL may switch to a generic plan
    that ignores the values: for a date window or an OFFSET over a million rows that plan can
    be a sequential scan (about 200 ms instead of 10 ms). Metrics and list pages use this.
    """
    engine = request.app.state.engine
    if engine.dialect.name != "postgresql":
        async with request.app.state.reader.connect() as conn:
            yield conn
        return
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        yield conn
        await conn.rollback()
