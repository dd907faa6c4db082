"""LeanRoute calls endpoints with the request, account_id and path parameters only: an endpoint
it could not call is refused when the route is declared, not at its first request."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, Request
from starlette.responses import Response

from opensure.api.deps import AccountId, LeanRoute


def router() -> APIRouter:
    return APIRouter(route_class=LeanRoute)


def test_a_servable_endpoint_is_accepted() -> None:
    r = router()

    @r.get("/things/{id}")
    async def get_thing(id: str, request: Request, account_id: AccountId) -> Response:
        return Response()

    assert [route.path for route in r.routes] == ["/things/{id}"]


@pytest.mark.parametrize(
    ("path", "endpoint_source", "problem"),
    [
        (
            "/things",
            "async def e(request, account_id, per_page: int): ...",
            "'per_page' is required",
        ),
        ("/things/{id}", "async def e(request, account_id): ...", "path parameter 'id'"),
        ("/things", "async def e(account_id): ...", "'request' is not accepted"),
        ("/things", "async def e(request): ...", "'account_id' is not accepted"),
        ("/things", "def e(request, account_id): ...", "must be an async function"),
    ],
)
def test_an_endpoint_it_cannot_call_is_refused_at_declaration(
    path: str, endpoint_source: str, problem: str
) -> None:
    namespace: dict[str, object] = {}
    exec(endpoint_source, namespace)
    with pytest.raises(TypeError, match=re.escape(problem)):
        router().add_api_route(path, namespace["e"])  # type: ignore[arg-type]


def test_the_api_routers_are_lean() -> None:
    # Their modules imported (as the app does) means every endpoint passed the check.
    from opensure.feedback_requests.endpoints import router as requests
    from opensure.feedback_responses.endpoints import router as responses
    from opensure.metrics.endpoints import router as metrics
    from opensure.sites.endpoints import router as sites

    routes = [r for rt in (requests, responses, metrics, sites) for r in rt.routes]
    assert len(routes) >= 10
    assert all(isinstance(r, LeanRoute) for r in routes)
