"""The API as a client sees it over the network, from a real `opensure serve` process."""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fixtures.server import MEDIA_TYPE, ApiAccount, OpenSureServer

pytestmark = pytest.mark.e2e

JSON_TYPE = "application/json; charset=utf-8"


def utc_seconds(delta: dt.timedelta = dt.timedelta(0)) -> dt.datetime:
    return (dt.datetime.now(dt.UTC) + delta).replace(microsecond=0)


def z(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def links(response: httpx.Response) -> dict[str, str]:
    """rel → URL from a Link header."""
    found = re.findall(r'<([^>]*)>;\s*rel="([^"]+)"', response.headers.get("link", ""))
    return {rel: url for url, rel in found}


def assert_json_error(response: httpx.Response, status: int, message: str | None = None) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON_TYPE
    body = response.json()
    assert isinstance(body, dict)
    assert isinstance(body.get("message"), str)
    assert body["message"]
    if message is not None:
        assert body["message"] == message
    assert "Traceback" not in response.text
    return body


async def create_request(api: httpx.AsyncClient, account: ApiAccount, **fields: Any) -> Any:
    payload = {
        "email": "kate@example.com",
        "send_at": z(utc_seconds(dt.timedelta(days=2))),
        "survey_id": account.survey_id,
        **fields,
    }
    r = await api.post("/feedback_requests", json=payload)
    assert r.status_code == 201, r.text
    return r.json()


# ---- feedback requests: create, get, list, patch, delete ----


async def test_create_then_get_returns_the_same_request(
    opensure_server: OpenSureServer, server_account: ApiAccount, api: httpx.AsyncClient
) -> None:
    send_at = utc_seconds(dt.timedelta(days=1))
    # The seed's own example sends a +0100 offset; the API answers in UTC.
    local = send_at.astimezone(dt.timezone(dt.timedelta(hours=1)))
    r = await api.post(
        "/feedback_requests",
        json={
            "email": "john.smith@example.com",
            "send_at": local.strftime("%Y-%m-%dT%H:%M:%S+0100"),
            "survey_id": server_account.survey_id,
            "first_name": "John",
            "surname": "Smith",
            "reference": "#1041",
            "machine_id": "8736245",
            "data": [
                {"key": "category", "value": "api-support"},
                {"key": "ticket_date", "value": "20th Aug 2014"},
            ],
        },
    )
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == JSON_TYPE
    created = r.json()
    assert r.headers["location"] == f"{opensure_server.base_url}/feedback_requests/{created['id']}"
    assert isinstance(created["id"], int)
    assert created["email"] == "john.smith@example.com"
    assert created["state"] == "pending"
    assert created["first_name"] == "John"
    assert created["surname"] == "Smith"
    assert created["survey_id"] == server_account.survey_id
    assert created["email_template_id"] is None
    assert created["reference"] == "#1041"
    assert created["machine_id"] == "8736245"
    assert created["send_at"] == z(send_at)
    assert created["sent_at"] is None
    assert created["deletion_requested_at"] is None
    assert created["not_sent_reason"] is None
    assert created["delivery_failure"] is None
    for stamp in ("created_at", "updated_at"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created[stamp]), created[stamp]
    assert [(d["key"], d["value"]) for d in created["data"]] == [
        ("category", "api-support"),
        ("ticket_date", "20th Aug 2014"),
    ]
    assert all(isinstance(d["id"], int) for d in created["data"])

    r = await api.get(f"/feedback_requests/{created['id']}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == JSON_TYPE
    assert r.json() == created


async def test_list_is_newest_send_at_first_and_filters_by_state(
    server_account: ApiAccount, api: httpx.AsyncClient
) -> None:
    sooner = await create_request(api, server_account, send_at=z(utc_seconds(dt.timedelta(1))))
    later = await create_request(api, server_account, send_at=z(utc_seconds(dt.timedelta(3))))

    r = await api.get("/feedback_requests", params={"per_page": "100", "state": "pending"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == JSON_TYPE
    listed = r.json()
    ids = [item["id"] for item in listed]
    assert later["id"] in ids
    assert sooner["id"] in ids
    assert ids.index(later["id"]) < ids.index(sooner["id"])
    assert listed[ids.index(later["id"])] == later
    assert all(item["state"] == "pending" for item in listed)
    assert int(r.headers["x-total-count"]) >= 2
    assert int(r.headers["x-total-pages"]) >= 1

    r = await api.get("/feedback_requests", params={"states[]": "not_sent"})
    assert r.status_code == 200, r.text
    assert all(item["id"] not in (sooner["id"], later["id"]) for item in r.json())


async def test_patch_changes_only_what_is_sent(
    server_account: ApiAccount, api: httpx.AsyncClient
) -> None:
    created = await create_request(
        api, server_account, first_name="John", data=[{"key": "category", "value": "api"}]
    )
    r = await api.patch(
        f"/feedback_requests/{created['id']}",
        json={"first_name": "Jonathan", "data": [{"key": "channel", "value": "phone"}]},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == JSON_TYPE
    patched = r.json()
    assert patched["first_name"] == "Jonathan"
    for unchanged in ("id", "email", "send_at", "survey_id", "created_at", "state"):
        assert patched[unchanged] == created[unchanged]
    assert patched["updated_at"] >= created["updated_at"]
    assert [(d["key"], d["value"]) for d in patched["data"]] == [
        ("category", "api"),
        ("channel", "phone"),
    ]
    r = await api.get(f"/feedback_requests/{created['id']}")
    assert r.json() == patched


async def test_delete_removes_a_pending_request(
    server_account: ApiAccount, api: httpx.AsyncClient
) -> None:
    created = await create_request(api, server_account)
    r = await api.delete(f"/feedback_requests/{created['id']}")
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_json_error(await api.get(f"/feedback_requests/{created['id']}"), 404, "Not Found")
    assert_json_error(await api.delete(f"/feedback_requests/{created['id']}"), 404, "Not Found")


# ---- the request pipeline: every error is JSON ----

UA, ACCEPT, AUTH = "User-Agent", "Accept", "Authorization"
PIPELINE_CASES: list[Any] = [
    # (id, method, path, header changes (None removes), body, status, message)
    ("no user agent", "GET", "/feedback_requests", {UA: None}, None, 403, None),
    ("blank user agent", "GET", "/feedback_requests", {UA: ""}, None, 403, None),
    (
        "user agent checked first",
        "GET",
        "/nope",
        {UA: None, ACCEPT: "application/json", AUTH: None},
        None,
        403,
        None,
    ),
    ("no accept", "GET", "/feedback_requests", {ACCEPT: None}, None, 406, None),
    ("accept json", "GET", "/feedback_requests", {ACCEPT: "application/json"}, None, 406, None),
    ("accept anything", "GET", "/feedback_requests", {ACCEPT: "*/*"}, None, 406, None),
    (
        "accept v2",
        "GET",
        "/feedback_requests",
        {ACCEPT: "application/vnd.customersure.v2+json"},
        None,
        406,
        None,
    ),
    (
        "accept checked before token",
        "GET",
        "/feedback_requests",
        {ACCEPT: "text/html", AUTH: None},
        None,
        406,
        None,
    ),
    ("no token", "GET", "/feedback_requests", {AUTH: None}, None, 401, "Bad credentials"),
    (
        "wrong token",
        "GET",
        "/feedback_requests",
        {AUTH: 'Token token="os_0000000000"'},
        None,
        401,
        "Bad credentials",
    ),
    ("token checked before routing", "GET", "/nope", {AUTH: None}, None, 401, "Bad credentials"),
    ("unknown path", "GET", "/nope", {}, None, 404, "Not Found"),
    ("unknown id", "GET", "/feedback_requests/999999999", {}, None, 404, "Not Found"),
    ("non-numeric id", "GET", "/feedback_requests/abc", {}, None, 404, "Not Found"),
    ("put on the collection", "PUT", "/feedback_requests", {}, b"{}", 405, None),
    ("delete on the collection", "DELETE", "/feedback_requests", {}, None, 405, None),
    ("post on an item", "POST", "/feedback_requests/1", {}, b"{}", 405, None),
    (
        "malformed json",
        "POST",
        "/feedback_requests",
        {"Content-Type": "application/json"},
        b'{"email": ',
        400,
        "Problems parsing JSON",
    ),
    (
        "not json",
        "POST",
        "/feedback_requests",
        {"Content-Type": "text/plain"},
        b"email=kate@example.com",
        415,
        None,
    ),
    (
        "unpermitted parameter",
        "POST",
        "/feedback_requests",
        {"Content-Type": "application/json"},
        b'{"colour": "red"}',
        403,
        None,
    ),
    (
        "validation",
        "POST",
        "/feedback_requests",
        {"Content-Type": "application/json"},
        b"{}",
        422,
        "Validation error",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "changes", "body", "status", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in PIPELINE_CASES],
)
async def test_pipeline_errors_are_json(
    opensure_server: OpenSureServer,
    server_account: ApiAccount,
    method: str,
    path: str,
    changes: dict[str, str | None],
    body: bytes | None,
    status: int,
    message: str | None,
) -> None:
    async with opensure_server.client() as client:
        request = client.build_request(method, path, content=body)
        for name, value in {**server_account.headers, **changes}.items():
            if value is None:
                request.headers.pop(name, None)
            else:
                request.headers[name] = value
        r = await client.send(request)
    error = assert_json_error(r, status, message)
    if status == 403 and UA in changes:
        assert error["message"] == "Missing or invalid User Agent string"
    if status == 406:
        assert MEDIA_TYPE in error["message"]
    if status == 401:
        assert r.headers["www-authenticate"] == 'Token realm="Application"'
    if status == 405:
        allowed = {m.strip() for m in r.headers["allow"].split(",")}
        assert method not in allowed
        assert allowed & {"GET", "POST", "PATCH", "DELETE"}
    if status == 403 and b"colour" in (body or b""):
        assert "colour" in error["message"]
    if status == 422:
        fields = {e["field"]: e for e in error["errors"]}
        assert {"email", "send_at", "survey_id"} <= set(fields)
        assert all(e["error"] == "required" for e in fields.values())
        assert all(e["resource"] == "/feedback_requests/" for e in fields.values())


# ---- absolute URLs come from OPENSURE_PUBLIC_URL ----


async def test_link_and_location_use_the_public_url(
    opensure_server: OpenSureServer, server_account: ApiAccount, api: httpx.AsyncClient
) -> None:
    for _ in range(3):
        await create_request(api, server_account)
    # A Host the server does not know itself by: absolute URLs must still be the public ones.
    foreign_host = {"Host": "proxy.example.invalid:8443"}
    base = opensure_server.base_url
    query = {"per_page": "1", "state": "pending", "page": "2"}
    r = await api.get("/feedback_requests", params=query, headers=foreign_host)
    assert r.status_code == 200, r.text
    assert len(r.json()) == 1
    rels = links(r)
    assert set(rels) == {"first", "prev", "next", "last"}, r.headers.get("link")
    pages = int(r.headers["x-total-pages"])
    assert pages == int(r.headers["x-total-count"]) >= 3
    expected_page = {"first": "1", "prev": "1", "next": "3", "last": str(pages)}
    for rel, url in rels.items():
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == base, url
        assert parts.path == "/feedback_requests"
        params = parse_qs(parts.query)
        assert params == {"per_page": ["1"], "state": ["pending"], "page": [expected_page[rel]]}

    # The links work as given.
    r = await api.get(rels["next"])
    assert r.status_code == 200, r.text
    assert len(r.json()) == 1

    created = await api.post(
        "/feedback_requests",
        headers=foreign_host,
        json={
            "email": "kate@example.com",
            "send_at": z(utc_seconds(dt.timedelta(days=2))),
            "survey_id": server_account.survey_id,
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{base}/feedback_requests/{created.json()['id']}"

    redirect = await api.get("/feedback_requests/", headers=foreign_host)
    assert redirect.status_code == 301, redirect.text
    assert redirect.headers["location"] == f"{base}/feedback_requests"


async def test_forwarded_headers_from_an_untrusted_client_are_ignored(
    opensure_server: OpenSureServer, api: httpx.AsyncClient
) -> None:
    r = await api.get(
        "/feedback_requests",
        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
    )
    assert r.status_code == 200, r.text
    for url in links(r).values():
        assert url.startswith(f"{opensure_server.base_url}/feedback_requests?"), url


# ---- documentation needs no version header ----


async def test_openapi_and_docs_are_served_without_api_headers(
    opensure_server: OpenSureServer,
) -> None:
    async with opensure_server.client() as client:
        r = await client.get("/openapi.json")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        schema = r.json()
        assert schema["openapi"].startswith("3.")
        assert "/feedback_requests" in schema["paths"]
        assert "/feedback_requests/{id}" in schema["paths"]

        r = await client.get("/docs")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/html")
        assert "swagger" in r.text.lower()
        assert "/openapi.json" in r.text


# ---- the demo printed on the first start ----


def parse_curl(command: str) -> tuple[str, str, dict[str, str], str | None]:
    """method, URL, headers and body of a printed ``curl`` command, split as a shell would."""
    argv = shlex.split(command)
    assert argv[0] == "curl", argv
    method, url, body = "GET", None, None
    headers: dict[str, str] = {}
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("-X", "--request"):
            method, i = argv[i + 1], i + 2
        elif arg in ("-H", "--header"):
            name, _, value = argv[i + 1].partition(":")
            headers[name.strip()] = value.strip()
            i += 2
        elif arg in ("-d", "--data", "--data-raw", "--data-binary"):
            body, i = argv[i + 1], i + 2
            if method == "GET":
                method = "POST"
        elif arg.startswith("-"):
            i += 1
        else:
            url, i = arg, i + 1
    assert url is not None, argv
    return method, url, headers, body


async def test_first_start_prints_a_demo_curl_that_works(opensure_server: OpenSureServer) -> None:
    printed = opensure_server.stdout()
    if opensure_server.kind != "sqlite":
        # The demo account is for the embedded shape only; production databases stay empty.
        assert "curl" not in printed
        assert "API token" not in printed
        return
    token_line = re.search(r"API token:\s*(\S+)", printed)
    survey_line = re.search(r"survey id:\s*(\d+)", printed)
    assert token_line, printed
    assert survey_line, printed
    token, survey_id = token_line[1], int(survey_line[1])

    lines = printed[printed.index("curl ") :].splitlines()
    command_lines = []
    for line in lines:
        command_lines.append(line.removesuffix("\\"))
        if not line.endswith("\\"):
            break
    method, url, headers, body = parse_curl(" ".join(command_lines))
    assert url == f"{opensure_server.base_url}/feedback_requests"
    assert token in headers["Authorization"]
    assert body is not None
    sent = json.loads(body)
    assert sent["survey_id"] == survey_id

    async with opensure_server.client() as client:
        r = await client.request(method, url, headers=headers, content=body.encode())
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["survey_id"] == survey_id
        assert created["email"] == sent["email"]

        # The printed token is a working API token of the account that owns the survey.
        r = await client.get(f"/feedback_requests/{created['id']}", headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == created["id"]


async def test_first_start_prints_a_demo_user_who_can_sign_in(
    opensure_server: OpenSureServer,
) -> None:
    printed = opensure_server.stdout()
    if opensure_server.kind != "sqlite":
        assert "sign in as" not in printed
        return
    found = re.search(r"Console:\s*(\S+)\s+sign in as (\S+), password (\S+)", printed)
    assert found, printed
    url, email, password = found[1], found[2], found[3]
    assert url == f"{opensure_server.base_url}/app/"
    async with opensure_server.client() as client:
        form = await client.get("/app/sign-in")
        assert form.status_code == 200
        token = re.search(r'name="form_token" value="([^"]+)"', form.text)
        assert token, form.text
        signed = await client.post(
            "/app/sign-in",
            data={"email": email, "password": password, "form_token": token[1], "next": "/app/"},
        )
        assert signed.status_code == 303, signed.text
        assert "opensure_session=" in signed.headers["set-cookie"]


# ---- and nothing went wrong on the server's side ----


async def test_server_logged_no_errors(opensure_server: OpenSureServer) -> None:
    """Runs last in this module: the requests above left no traceback or error in the log."""
    assert opensure_server.process.poll() is None, "the server has stopped"
    log = opensure_server.stderr()
    assert "Traceback" not in log, log[-4000:]
    assert not re.search(r"\bERROR\b", log), log[-4000:]
