"""Reading a request: the JSON body, unpermitted parameters, array query parameters, base URL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.requests import Request

from opensure.api.errors import ApiError, BadJson, UnpermittedParameters, UnsupportedMediaType


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


MAX_BODY_BYTES = 1024 * 1024


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refusing more than ``limit`` bytes (413) or a client too slow to send
    it (408, after OPENSURE_BODY_TIMEOUT_SECONDS) — a half-sent body must not hold the request
    open forever."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(f"Request body too large: at most {limit} bytes", status_code=413)
    chunks: list[bytes] = []
    size = 0
    timeout = request.app.state.settings.body_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(
                        f"Request body too large: at most {limit} bytes", status_code=413
                    )
                chunks.append(chunk)
    except TimeoutError:
        # The rest of the body is not awaited: the connection closes after the answer.
        raise ApiError(
            f"Request body not received within {timeout:g} seconds",
            status_code=408,
            headers={"Connection": "close"},
        ) from None
    return b"".join(chunks)


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object. An empty body is ``{}``; no Content-Type is read as JSON."""
    raw = await read_body(request)
    content_type = request.headers.get("content-type")
    if content_type is not None and content_type.strip() and not _is_json(content_type):
        raise UnsupportedMediaType(
            f"Unsupported Content-Type {content_type.split(';')[0].strip()!r}: "
            "send 'Content-Type: application/json'"
        )
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadJson() from None
    if not isinstance(body, dict):
        raise BadJson("Problems parsing JSON: the body must be a JSON object")
    return body


def reject_unpermitted(keys: Iterable[str], allowed: Iterable[str]) -> None:
    allowed_set = set(allowed)
    bad = [k for k in keys if k not in allowed_set]
    if bad:
        raise UnpermittedParameters(bad)


def check_query(request: Request, allowed: Iterable[str]) -> None:
    """403 for query keys the endpoint does not take; ``name[]`` counts as ``name``."""
    if not request.scope.get("query_string"):
        return  # the common case, without parsing an empty query string
    allowed_set = set(allowed)
    bad: list[str] = []
    for key in request.query_params:
        if key.removesuffix("[]") not in allowed_set and key not in bad:
            bad.append(key)
    if bad:
        raise UnpermittedParameters(bad)


def array_param(request: Request, name: str) -> list[str] | None:
    """``name[]=a&name[]=b``, ``name=a&name=b`` and ``name=a,b`` all give ``["a", "b"]``."""
    qp = request.query_params
    raw = qp.getlist(name + "[]") + qp.getlist(name)
    if not raw:
        return None
    values: list[str] = []
    for item in raw:
        values.extend(v.strip() for v in item.split(",") if v.strip())
    return values


def base_url(request: Request) -> str:
    """Public base URL: forwarded headers from a trusted proxy, else OPENSURE_PUBLIC_URL."""
    settings = request.app.state.settings
    host = request.headers.get("x-forwarded-host") if settings.forwarded_allow_ips else None
    if host:
        proto = request.headers.get("x-forwarded-proto", request.url.scheme)
        return f"{proto.split(',')[0].strip()}://{host.split(',')[0].strip()}"
    return str(settings.public_base)
