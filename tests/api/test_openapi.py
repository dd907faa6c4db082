"""The API reference: served without the version header, and complete for feedback requests."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from opensure.api.negotiation import MEDIA_TYPE
from tests.api.helpers import raw

OPERATIONS = {
    ("/feedback_requests", "get"),
    ("/feedback_requests", "post"),
    ("/feedback_requests/{id}", "get"),
    ("/feedback_requests/{id}", "patch"),
    ("/feedback_requests/{id}", "delete"),
}
# Status codes each operation must document (besides its success code).
ERRORS = {
    ("/feedback_requests", "get"): {"401", "403", "406", "422"},
    ("/feedback_requests", "post"): {"400", "401", "403", "406", "415", "422"},
    ("/feedback_requests/{id}", "get"): {"401", "403", "404", "406"},
    ("/feedback_requests/{id}", "patch"): {"400", "401", "403", "404", "406", "415", "422"},
    ("/feedback_requests/{id}", "delete"): {"401", "403", "404", "406"},
}
SUCCESS = {
    ("/feedback_requests", "get"): "200",
    ("/feedback_requests", "post"): "201",
    ("/feedback_requests/{id}", "get"): "200",
    ("/feedback_requests/{id}", "patch"): "200",
    ("/feedback_requests/{id}", "delete"): "204",
}
READ_FIELDS = {
    "id",
    "email",
    "state",
    "first_name",
    "surname",
    "survey_id",
    "email_template_id",
    "reference",
    "machine_id",
    "send_at",
    "sent_at",
    "created_at",
    "updated_at",
    "deletion_requested_at",
    "not_sent_reason",
    "delivery_failure",
    "reminder_sent_at",
    "data",
    "query_params",
}
WRITE_FIELDS = {
    "email",
    "send_at",
    "survey_id",
    "email_template_id",
    "first_name",
    "surname",
    "reference",
    "machine_id",
    "data",
    "query_params",
}


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await raw(client, "GET", "/openapi.json", {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/components/schemas/")
        node = spec["components"]["schemas"][name]
    return node


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"User-Agent": "", "Accept": "text/html", "Authorization": "Token token=wrong"},
        {"Accept": "application/json"},
    ],
    ids=["no-headers", "bad-headers", "plain-json"],
)
async def test_openapi_json_needs_no_version_header(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    r = await raw(client, "GET", "/openapi.json", headers)
    assert r.status_code == 200
    assert r.json()["openapi"].startswith("3.")


async def test_docs_need_no_version_header(client: httpx.AsyncClient) -> None:
    r = await raw(client, "GET", "/docs", {})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in r.text


async def test_every_feedback_request_operation_is_documented(spec: dict[str, Any]) -> None:
    documented = {
        (path, method)
        for path, ops in spec["paths"].items()
        if path.startswith("/feedback_requests")
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert documented == OPERATIONS


@pytest.mark.parametrize(("path", "method"), sorted(OPERATIONS))
async def test_operation_names_the_media_type_and_token(
    spec: dict[str, Any], path: str, method: str
) -> None:
    op = spec["paths"][path][method]
    accept = [p for p in op["parameters"] if p["in"] == "header" and p["name"] == "Accept"]
    assert len(accept) == 1
    assert accept[0]["required"] is True
    assert accept[0]["schema"]["default"] == MEDIA_TYPE
    schemes = spec["components"]["securitySchemes"]
    assert op["security"], op
    for requirement in op["security"]:
        for name in requirement:
            scheme = schemes[name]
            assert scheme["type"] == "apiKey"
            assert scheme["in"] == "header"
            assert scheme["name"] == "Authorization"
            assert "Token token=" in scheme["description"]


@pytest.mark.parametrize(("path", "method"), sorted(OPERATIONS))
async def test_operation_documents_its_error_responses(
    spec: dict[str, Any], path: str, method: str
) -> None:
    responses = spec["paths"][path][method]["responses"]
    assert SUCCESS[(path, method)] in responses
    assert ERRORS[(path, method)] <= set(responses), sorted(responses)
    for code in ERRORS[(path, method)]:
        schema = resolve(spec, responses[code]["content"]["application/json"]["schema"])
        assert "message" in schema["properties"], (code, schema)
        assert "message" in schema.get("required", []), (code, schema)
    # The 422 body is the CustomerSure one, not FastAPI's.
    if "422" in responses:
        error = resolve(spec, responses["422"]["content"]["application/json"]["schema"])
        assert "errors" in error["properties"]


async def test_fastapi_validation_error_is_not_documented(spec: dict[str, Any]) -> None:
    text = json.dumps(spec)
    assert "HTTPValidationError" not in text
    assert '"detail"' not in text


async def test_validation_error_item_schema(spec: dict[str, Any]) -> None:
    error = spec["components"]["schemas"]["Error"]
    items = error["properties"]["errors"]
    item_ref = next(
        alt["items"] for alt in items.get("anyOf", [items]) if alt.get("type") == "array"
    )
    item = resolve(spec, item_ref)
    assert {"resource", "field", "error", "extra_info"} <= set(item["properties"])


@pytest.mark.parametrize(("path", "method"), sorted(OPERATIONS))
async def test_success_bodies_show_the_feedback_request(
    spec: dict[str, Any], path: str, method: str
) -> None:
    responses = spec["paths"][path][method]["responses"]
    success = responses[SUCCESS[(path, method)]]
    if method == "delete":
        assert "content" not in success
        return
    schema = success["content"]["application/json"]["schema"]
    if method == "get" and path == "/feedback_requests":
        assert schema["type"] == "array"
        schema = schema["items"]
    read = resolve(spec, schema)
    assert set(read["properties"]) == READ_FIELDS


async def test_list_parameters(spec: dict[str, Any]) -> None:
    params = {p["name"]: p for p in spec["paths"]["/feedback_requests"]["get"]["parameters"]}
    assert {"page", "per_page", "states[]", "state", "survey_ids[]"} <= set(params)
    for name in ("page", "per_page", "states[]", "state", "survey_ids[]"):
        assert params[name]["in"] == "query"
    assert params["page"]["schema"]["type"] == "integer"
    assert params["per_page"]["schema"]["default"] == 30
    assert params["states[]"]["schema"]["type"] == "array"
    assert set(params["states[]"]["schema"]["items"]["enum"]) == {"pending", "sent", "not_sent"}
    assert params["survey_ids[]"]["schema"]["items"]["type"] == "integer"


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
async def test_id_path_parameter(spec: dict[str, Any], method: str) -> None:
    params = spec["paths"]["/feedback_requests/{id}"][method]["parameters"]
    ids = [p for p in params if p["in"] == "path"]
    assert [p["name"] for p in ids] == ["id"]
    assert ids[0]["required"] is True


@pytest.mark.parametrize(
    ("method", "required"),
    [("post", {"email", "send_at", "survey_id"}), ("patch", set())],
)
async def test_request_bodies(spec: dict[str, Any], method: str, required: set[str]) -> None:
    path = "/feedback_requests" if method == "post" else "/feedback_requests/{id}"
    body = spec["paths"][path][method]["requestBody"]
    schema = resolve(spec, body["content"]["application/json"]["schema"])
    assert set(schema["properties"]) == WRITE_FIELDS
    assert set(schema.get("required", [])) == required
    assert schema.get("additionalProperties") is False
    # Data items: key ≤ 30, value ≤ 100, at most 50 of them.
    data = schema["properties"]["data"]
    array = next(alt for alt in data.get("anyOf", [data]) if alt.get("type") == "array")
    assert array["maxItems"] == 50
    item = resolve(spec, array["items"])
    assert item["properties"]["key"]["maxLength"] == 30
    assert item["properties"]["value"]["maxLength"] == 100
    # Item ids are given by the server: only an update names one (a create with one is 403).
    assert ("id" in item["properties"]) == (method == "patch")


async def test_docs_and_spec_are_outside_the_gate_but_nothing_else_is(
    client: httpx.AsyncClient,
) -> None:
    # A path that merely starts like an exempt one is still gated.
    r = await raw(client, "GET", "/openapi.jsonx", {})
    assert r.status_code == 403
    r = await raw(client, "GET", "/feedback_requests", {})
    assert r.status_code == 403
