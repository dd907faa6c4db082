"""SPEC §3: the request pipeline, in its order, and the shape of every response."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from opensure.accounts import service as admin
from opensure.api.negotiation import MEDIA_TYPE
from opensure.app import create_app
from opensure.config import Settings
from opensure.models import ApiToken
from tests.api.helpers import JSON_CT, create_request, headers_without, raw, request_body
from tests.conftest import BASE, Account

UA_MESSAGE = {"message": "Missing or invalid User Agent string"}
BAD_CREDENTIALS = {"message": "Bad credentials"}


def assert_json(r: httpx.Response) -> None:
    assert r.headers["content-type"] == JSON_CT, (r.status_code, r.headers)


# ---- 1. User-Agent ---------------------------------------------------------------------------


@pytest.mark.parametrize("user_agent", [None, "", "   "])
async def test_missing_or_blank_user_agent_is_403(
    account: Account, client: httpx.AsyncClient, user_agent: str | None
) -> None:
    headers = headers_without(account, "User-Agent")
    if user_agent is not None:
        headers["User-Agent"] = user_agent
    r = await raw(client, "GET", "/feedback_requests", headers)
    assert r.status_code == 403
    assert r.json() == UA_MESSAGE
    assert_json(r)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Accept": "*/*"},
        {"Authorization": "Token token=nope"},
        {"Accept": "application/json", "Authorization": "Token token=nope"},
    ],
    ids=["nothing", "bad-accept", "bad-token", "bad-accept-and-token"],
)
async def test_user_agent_is_checked_before_accept_and_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    r = await raw(client, "GET", "/feedback_requests", headers)
    assert r.status_code == 403
    assert r.json() == UA_MESSAGE


async def test_user_agent_is_checked_before_routing_and_body(
    client: httpx.AsyncClient, account: Account
) -> None:
    headers = headers_without(account, "User-Agent")
    for method, path in [("GET", "/nowhere"), ("PUT", "/feedback_requests"), ("GET", "/x/")]:
        r = await raw(client, method, path, headers)
        assert (r.status_code, r.json()) == (403, UA_MESSAGE), (method, path)
    r = await raw(
        client,
        "POST",
        "/feedback_requests",
        {**headers, "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert (r.status_code, r.json()) == (403, UA_MESSAGE)


# ---- 2. Accept -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "",
        "*/*",
        "application/json",
        "application/*",
        "application/vnd.customersure.v2+json",
        "application/vnd.customersure+json",
        "text/html, application/json;q=0.9",
    ],
)
async def test_accept_without_v1_is_406_naming_the_media_type(
    account: Account, client: httpx.AsyncClient, accept: str | None
) -> None:
    headers = headers_without(account, "Accept")
    if accept is not None:
        headers["Accept"] = accept
    r = await raw(client, "GET", "/feedback_requests", headers)
    assert r.status_code == 406
    body = r.json()
    assert list(body) == ["message"]
    assert MEDIA_TYPE in body["message"]
    assert_json(r)


async def test_accept_is_checked_before_token(client: httpx.AsyncClient) -> None:
    r = await raw(
        client,
        "GET",
        "/feedback_requests",
        {"User-Agent": "Acme", "Accept": "application/json", "Authorization": "Token token=x"},
    )
    assert r.status_code == 406
    r = await raw(client, "GET", "/feedback_requests", {"User-Agent": "Acme"})
    assert r.status_code == 406


async def test_accept_is_checked_before_routing(
    account: Account, client: httpx.AsyncClient
) -> None:
    headers = {**account.headers, "Accept": "application/json"}
    for method, path in [("GET", "/nowhere"), ("DELETE", "/feedback_requests"), ("GET", "/a/")]:
        r = await raw(client, method, path, headers)
        assert r.status_code == 406, (method, path)


@pytest.mark.parametrize(
    "accept",
    [
        MEDIA_TYPE,
        MEDIA_TYPE + ";",
        MEDIA_TYPE + "; ",
        MEDIA_TYPE + "; charset=utf-8",
        MEDIA_TYPE + ";q=0.8",
        "application/json, " + MEDIA_TYPE,
        "text/html;q=0.5, " + MEDIA_TYPE + "; q=0.9, */*",
        MEDIA_TYPE + ";, application/json",
        "Application/VND.CustomerSure.v1+JSON",
    ],
)
async def test_accept_forms_naming_v1_are_accepted(
    account: Account, client: httpx.AsyncClient, accept: str
) -> None:
    r = await raw(client, "GET", "/feedback_requests", {**account.headers, "Accept": accept})
    assert r.status_code == 200, r.text
    assert r.json() == []


# ---- 3. Authorization ------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["Token token={t}", 'Token token="{t}"', 'Token  token = "{t}"'])
async def test_token_forms(account: Account, client: httpx.AsyncClient, form: str) -> None:
    created = await create_request(account)
    headers = {**account.headers, "Authorization": form.format(t=account.token)}
    r = await raw(client, "GET", "/feedback_requests", headers)
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()] == [created["id"]]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Token token=",
        'Token token=""',
        "Token token=os_0000000000000000000000000000000000000000",
        'Token token="fake"',
        "Basic dXNlcjpwYXNz",
        "token",
    ],
)
async def test_bad_or_missing_token_is_401(
    account: Account, client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = headers_without(account, "Authorization")
    if authorization is not None:
        headers["Authorization"] = authorization
    r = await raw(client, "GET", "/feedback_requests", headers)
    assert r.status_code == 401
    assert r.json() == BAD_CREDENTIALS
    assert r.headers["www-authenticate"] == 'Token realm="Application"'
    assert_json(r)


async def test_raw_token_without_scheme_is_401(account: Account, client: httpx.AsyncClient) -> None:
    r = await raw(
        client, "GET", "/feedback_requests", {**account.headers, "Authorization": account.token}
    )
    assert r.status_code == 401


async def test_token_is_checked_before_routing_and_redirects(
    account: Account, client: httpx.AsyncClient
) -> None:
    headers = {**account.headers, "Authorization": 'Token token="fake"'}
    for method, path in [
        ("GET", "/nowhere"),
        ("PUT", "/feedback_requests"),
        ("GET", "/feedback_requests/"),
        ("POST", "/feedback_requests/"),
    ]:
        r = await raw(client, method, path, headers)
        assert r.status_code == 401, (method, path)
        assert "location" not in r.headers
    r = await raw(
        client,
        "POST",
        "/feedback_requests",
        {**headers, "Content-Type": "application/json"},
        content=b"{oops",
    )
    assert r.status_code == 401


async def test_revoked_token_is_401(
    app: FastAPI, account: Account, client: httpx.AsyncClient
) -> None:
    async with app.state.engine.begin() as conn:
        second = await admin.create_token(conn, account.id)
        await admin.revoke_token(conn, second)
    r = await raw(
        client,
        "GET",
        "/feedback_requests",
        {**account.headers, "Authorization": f"Token token={second}"},
    )
    assert r.status_code == 401
    assert r.json() == BAD_CREDENTIALS
    assert r.headers["www-authenticate"] == 'Token realm="Application"'
    # The account's other token still works.
    assert (await account.get("/feedback_requests")).status_code == 200


async def test_revocation_takes_effect_without_cache(db_url: str, account: Account) -> None:
    application = create_app(Settings(database_url=db_url, public_url=BASE, token_cache_seconds=0))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
            async with application.state.engine.begin() as conn:
                token = await admin.create_token(conn, account.id)
            headers = {**account.headers, "Authorization": f'Token token="{token}"'}
            assert (await c.get("/feedback_requests", headers=headers)).status_code == 200
            async with application.state.engine.begin() as conn:
                t = ApiToken.__table__
                await conn.execute(
                    update(t)
                    .where(t.c.account_id == account.id, t.c.prefix == token[:10])
                    .values(revoked_at=dt.datetime.now(dt.UTC))
                )
            r = await c.get("/feedback_requests", headers=headers)
            assert r.status_code == 401
            assert r.json() == BAD_CREDENTIALS


# ---- 4. Routing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/nowhere", "/", "/feedback_requests/1/extra", "/feedback_request", "/v1/sites/x"]
)
async def test_unknown_path_is_404_json(account: Account, path: str) -> None:
    r = await account.get(path)
    assert r.status_code == 404
    assert r.json() == {"message": "Not Found"}
    assert_json(r)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/feedback_requests", {"GET", "POST"}),
        ("DELETE", "/feedback_requests", {"GET", "POST"}),
        ("PATCH", "/feedback_requests", {"GET", "POST"}),
        ("POST", "/feedback_requests/1", {"GET", "PATCH", "DELETE"}),
        ("PUT", "/feedback_requests/1", {"GET", "PATCH", "DELETE"}),
    ],
)
async def test_wrong_verb_is_405_with_allow(
    account: Account, method: str, path: str, allowed: set[str]
) -> None:
    r = await account.request(method, path, json={})
    assert r.status_code == 405
    assert_json(r)
    assert "message" in r.json()
    listed = {m.strip() for m in r.headers["allow"].split(",")}
    assert allowed <= listed
    assert method not in listed


async def test_wrong_verb_wins_over_bad_body(account: Account) -> None:
    r = await account.put(
        "/feedback_requests", content=b"{bad", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 405


async def test_trailing_slash_get_is_301_keeping_the_query(account: Account) -> None:
    r = await account.get("/feedback_requests/?states[]=pending&per_page=5")
    assert r.status_code == 301
    assert r.headers["location"] == f"{BASE}/feedback_requests?states[]=pending&per_page=5"
    assert_json(r)
    r = await account.get("/feedback_requests/")
    assert r.status_code == 301
    assert r.headers["location"] == f"{BASE}/feedback_requests"


async def test_trailing_slash_on_a_resource_redirects(account: Account) -> None:
    created = await create_request(account)
    r = await account.get(f"/feedback_requests/{created['id']}/")
    assert r.status_code == 301
    assert r.headers["location"] == f"{BASE}/feedback_requests/{created['id']}"
    r = await account.patch(f"/feedback_requests/{created['id']}/", json={"first_name": "Jo"})
    assert r.status_code == 307
    assert r.headers["location"] == f"{BASE}/feedback_requests/{created['id']}"
    # A redirect does not perform the change.
    assert (await account.get(f"/feedback_requests/{created['id']}")).json()["first_name"] is None
    r = await account.delete(f"/feedback_requests/{created['id']}/")
    assert r.status_code == 307
    assert (await account.get(f"/feedback_requests/{created['id']}")).status_code == 200


async def test_trailing_slash_head_is_301(account: Account) -> None:
    r = await account.request("HEAD", "/feedback_requests/")
    assert r.status_code == 301
    assert r.headers["location"] == f"{BASE}/feedback_requests"


async def test_trailing_slash_post_is_307_and_creates_nothing(account: Account) -> None:
    r = await account.post("/feedback_requests/?x=1", json=request_body(account))
    assert r.status_code == 307
    assert r.headers["location"] == f"{BASE}/feedback_requests?x=1"
    assert_json(r)
    assert (await account.get("/feedback_requests")).json() == []


async def test_following_redirects_reaches_the_resource(account: Account) -> None:
    created = await create_request(account)
    r = await account.get("/feedback_requests/", follow_redirects=True)
    assert r.status_code == 200
    assert [x["id"] for x in r.json()] == [created["id"]]
    r = await account.post("/feedback_requests/", json=request_body(account), follow_redirects=True)
    assert r.status_code == 201, r.text
    assert r.json()["email"] == "kate@example.com"


async def test_redirect_uses_forwarded_host(account: Account) -> None:
    r = await account.get(
        "/feedback_requests/",
        headers={"X-Forwarded-Host": "api.example.org", "X-Forwarded-Proto": "https"},
    )
    assert r.status_code == 301
    assert r.headers["location"] == "https://api.example.org/feedback_requests"


# ---- 5. Bodies and parameters ----------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/json",
    ],
)
async def test_non_json_content_type_is_415(account: Account, content_type: str) -> None:
    r = await account.post(
        "/feedback_requests",
        content=b'{"email": "kate@example.com"}',
        headers={"Content-Type": content_type},
    )
    assert r.status_code == 415
    assert "message" in r.json()
    assert_json(r)
    assert (await account.get("/feedback_requests")).json() == []


async def test_non_json_content_type_on_patch_is_415(account: Account) -> None:
    created = await create_request(account)
    r = await account.patch(
        f"/feedback_requests/{created['id']}",
        content=b'{"first_name": "Jo"}',
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 415
    assert (await account.get(f"/feedback_requests/{created['id']}")).json()["first_name"] is None


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/merge-patch+json", None],
)
async def test_json_content_types_are_accepted(
    account: Account, client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = dict(account.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    r = await raw(
        client, "POST", "/feedback_requests", headers, content=orjson.dumps(request_body(account))
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "content", [b"{", b'{"email": }', b"{'email': 'x'}", b'{"a": 1,}', b"nope", b"\xff\xfe"]
)
async def test_malformed_json_is_400(account: Account, content: bytes) -> None:
    r = await account.post(
        "/feedback_requests", content=content, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json() == {"message": "Problems parsing JSON"}
    assert_json(r)


async def test_malformed_json_on_patch_is_400(account: Account) -> None:
    created = await create_request(account)
    r = await account.patch(
        f"/feedback_requests/{created['id']}",
        content=b'{"first_name": "Jo"',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json() == {"message": "Problems parsing JSON"}


@pytest.mark.parametrize("content", [b"[]", b'"text"', b"42", b"null"])
async def test_json_that_is_not_an_object_is_400(account: Account, content: bytes) -> None:
    r = await account.post(
        "/feedback_requests", content=content, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["message"].startswith("Problems parsing JSON")


async def test_unpermitted_body_keys_are_403_naming_each(account: Account) -> None:
    body = request_body(account, colour="blue", state="sent", id=5)
    r = await account.post("/feedback_requests", json=body)
    assert r.status_code == 403
    message = r.json()["message"]
    for name in ("colour", "state", "id"):
        assert name in message
    assert "email" not in message
    assert list(r.json()) == ["message"]
    assert_json(r)
    assert (await account.get("/feedback_requests")).json() == []


async def test_unpermitted_parameters_win_over_validation(account: Account) -> None:
    r = await account.post("/feedback_requests", json={"email": "bad", "unknown_field": 1})
    assert r.status_code == 403
    assert "unknown_field" in r.json()["message"]


async def test_unpermitted_nested_keys_are_403(account: Account) -> None:
    body = request_body(account, data=[{"key": "a", "value": "b", "colour": "red"}])
    r = await account.post("/feedback_requests", json=body)
    assert r.status_code == 403
    assert "colour" in r.json()["message"]


async def test_unpermitted_patch_keys_are_403(account: Account) -> None:
    created = await create_request(account)
    r = await account.patch(
        f"/feedback_requests/{created['id']}", json={"first_name": "Jo", "sent_at": "x"}
    )
    assert r.status_code == 403
    assert "sent_at" in r.json()["message"]
    assert (await account.get(f"/feedback_requests/{created['id']}")).json()["first_name"] is None


async def test_unpermitted_query_keys_on_get_are_403(account: Account) -> None:
    r = await account.get("/feedback_requests?page=1&sort=email&filter[]=x")
    assert r.status_code == 403
    message = r.json()["message"]
    assert "sort" in message
    assert "filter" in message
    assert "page" not in message
    created = await create_request(account)
    r = await account.get(f"/feedback_requests/{created['id']}?include=everything")
    assert r.status_code == 403
    assert "include" in r.json()["message"]


# ---- Every response is JSON; 500s leak nothing ----------------------------------------------


async def test_every_response_is_json_utf8(account: Account, client: httpx.AsyncClient) -> None:
    created = await create_request(account)
    rid = created["id"]
    json_header = {"Content-Type": "application/json"}
    text_header = {"Content-Type": "text/a"}
    no_token = {"User-Agent": "x", "Accept": MEDIA_TYPE}
    expected = [
        (403, await raw(client, "GET", "/feedback_requests", {})),
        (406, await raw(client, "GET", "/feedback_requests", {"User-Agent": "x"})),
        (401, await raw(client, "GET", "/feedback_requests", no_token)),
        (200, await account.get("/feedback_requests")),
        (200, await account.get(f"/feedback_requests/{rid}")),
        (404, await account.get("/feedback_requests/999999999")),
        (301, await account.get("/feedback_requests/")),
        (307, await account.post("/feedback_requests/", json={})),
        (405, await account.put("/feedback_requests", json={})),
        (422, await account.post("/feedback_requests", json={})),
        (403, await account.post("/feedback_requests", json={"x": 1})),
        (400, await account.post("/feedback_requests", content=b"{", headers=json_header)),
        (415, await account.post("/feedback_requests", content=b"a", headers=text_header)),
        (422, await account.get("/feedback_requests?page=0")),
        (200, await account.patch(f"/feedback_requests/{rid}", json={"first_name": "Jo"})),
        (201, await account.post("/feedback_requests", json=request_body(account))),
    ]
    for status, r in expected:
        assert r.status_code == status, (status, r.text)
        assert r.headers["content-type"] == JSON_CT, (r.status_code, r.headers)
        r.json()


@pytest.fixture
async def crashing_client(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(Settings(database_url=db_url, public_url=BASE))

    @application.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail /etc/passwd")

    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
            yield c


async def test_server_error_leaks_no_stack_trace(
    crashing_client: httpx.AsyncClient, account: Account
) -> None:
    r = await crashing_client.get("/boom", headers=account.headers)
    assert r.status_code == 500
    assert r.json() == {"message": "Server error"}
    assert "Traceback" not in r.text
    assert "secret" not in r.text
    assert_json(r)


async def test_server_error_route_is_still_behind_the_gate(
    crashing_client: httpx.AsyncClient, account: Account
) -> None:
    r = await crashing_client.get("/boom", headers=headers_without(account, "Authorization"))
    assert r.status_code == 401


# ---- Objects of other accounts ---------------------------------------------------------------


async def test_other_accounts_objects_are_404_not_403(
    account: Account, other_account: Account
) -> None:
    created = await create_request(other_account)
    for method in ("GET", "PATCH", "DELETE"):
        kwargs = {"json": {"first_name": "X"}} if method == "PATCH" else {}
        r = await account.request(method, f"/feedback_requests/{created['id']}", **kwargs)
        assert r.status_code == 404, method
        assert r.json() == {"message": "Not Found"}


# ---- HEAD ------------------------------------------------------------------------------------


async def test_head_is_get_without_a_body(account: Account) -> None:
    created = await create_request(account)
    get = await account.get(f"/feedback_requests/{created['id']}")
    head = await account.request("HEAD", f"/feedback_requests/{created['id']}")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == JSON_CT
    assert head.headers["content-length"] == get.headers["content-length"]
    head = await account.request("HEAD", "/feedback_requests")
    assert head.status_code == 200
    assert head.headers["x-total-count"] == "1"
    assert head.content == b""
    head = await account.request("HEAD", "/feedback_requests/999999999")
    assert head.status_code == 404
    assert head.content == b""


async def test_head_is_listed_beside_get_in_allow(account: Account) -> None:
    r = await account.put("/feedback_requests", json={})
    assert r.status_code == 405
    assert [m.strip() for m in r.headers["allow"].split(",")] == ["GET", "HEAD", "POST"]
    r = await account.post("/feedback_requests/1", json={})
    assert [m.strip() for m in r.headers["allow"].split(",")] == [
        "GET",
        "HEAD",
        "PATCH",
        "DELETE",
    ]
