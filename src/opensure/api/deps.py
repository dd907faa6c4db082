"""Dependencies shared by the endpoints: the caller's account and database connections."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response


async def _account_id(request: Request) -> int:
    # Set by ApiGate after the token check; every versioned endpoint runs behind it.
    # (async: FastAPI runs a plain function dependency in a worker thread, a costly hop.)
    return int(request.state.account_id)


AccountId = Annotated[int, Depends(_account_id)]


class LeanRoute(APIRoute):
    """A route whose endpoint reads and validates its own input (every API endpoint does, so
    that errors come out in the CustomerSure format): it is called with the request, the
    caller's account id and the path parameters, skipping FastAPI's per-request dependency
    solving and parameter validation (about a fifth of a GET's CPU). The signature still
    documents the path parameters in /openapi.json; ``AccountId`` keeps ``account_id`` out of it.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            account_id = request.scope["state"]["account_id"]
            response: Response = await endpoint(
                request=request, account_id=account_id, **request.path_params
            )
            return response

        return handler


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
