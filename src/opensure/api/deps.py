"""Dependencies shared by the endpoints: the caller's account and database connections."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from opensure.stores.instance import instance_secret


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

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        _check_lean_signature(self.path, endpoint, set(self.param_convertors))

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            account_id = request.scope["state"]["account_id"]
            response: Response = await endpoint(
                request=request, account_id=account_id, **request.path_params
            )
            return response

        return handler


# What LeanRoute passes to every endpoint besides the path parameters.
LEAN_ARGUMENTS = ("request", "account_id")


def _check_lean_signature(path: str, endpoint: Callable[..., Any], path_params: set[str]) -> None:
    """Refuse, when the route is declared, an endpoint LeanRoute could not call: one that
    needs an argument it does not pass (a query or body parameter, a dependency), or that
    does not take a path parameter, or is not a coroutine function."""
    name = getattr(endpoint, "__qualname__", repr(endpoint))
    if not inspect.iscoroutinefunction(endpoint):
        raise TypeError(f"LeanRoute {path}: {name} must be an async function")
    params = inspect.signature(endpoint).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    given = {*LEAN_ARGUMENTS, *path_params}
    problems = [f"path parameter {p!r} is not accepted" for p in sorted(path_params - set(params))]
    for missing in sorted(set(LEAN_ARGUMENTS) - set(params)):
        problems.append(f"{missing!r} is not accepted")
    for pname, param in params.items():
        if pname in given:
            if param.kind is inspect.Parameter.POSITIONAL_ONLY:
                problems.append(f"{pname!r} is positional-only; LeanRoute passes it by name")
            continue
        if param.kind in (inspect.Parameter.VAR_POSITIONAL,):
            continue
        if param.default is inspect.Parameter.empty:
            problems.append(
                f"{pname!r} is required but LeanRoute passes only the request, account_id and "
                "path parameters (read query and body parameters from the request)"
            )
    if problems:
        raise TypeError(f"LeanRoute {path}: {name} cannot be served: " + "; ".join(problems))


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


async def installation_secret(request: Request) -> str:
    """The key that signs form tokens (OPENSURE_SECRET_KEY, else made once and kept in the
    database so that every process of an installation shares it)."""
    state = request.app.state
    if not state.secret:
        async with transaction(request) as conn:
            state.secret = await instance_secret(conn)
    return str(state.secret)
