"""Every error status maps to its class, carrying status, message, request id and errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import opensure_client
from opensure_client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotAcceptableError,
    NotFoundError,
    OpenSureError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
    UnprocessableEntityError,
    _errors,
)


@pytest.mark.parametrize(
    ("status", "message", "cls"),
    [
        (400, "Problems parsing JSON", BadRequestError),
        (401, "Bad credentials", AuthenticationError),
        (403, "Unpermitted parameters: colour", PermissionDeniedError),
        (404, "Not Found", NotFoundError),
        (405, "Method Not Allowed", APIStatusError),
        (406, "Send Accept: application/vnd.customersure.v1+json", NotAcceptableError),
        (415, "Unsupported Media Type", APIStatusError),
        (422, "Validation error", UnprocessableEntityError),
        (429, "Too many requests", RateLimitError),
        (500, "Server error", ServerError),
        (502, "Bad gateway", ServerError),
        (503, "Service temporarily unavailable, please retry", ServerError),
        (504, "Gateway timeout", ServerError),
    ],
)
def test_each_status_raises_its_class(api: Any, status: int, message: str, cls: type) -> None:
    api.on("GET", "/sites/hq", api.reply(status, {"message": message}))
    client = api.client(max_retries=0)

    with pytest.raises(cls) as caught:
        client.sites.get("hq")

    error = caught.value
    assert type(error) is cls
    assert isinstance(error, APIStatusError)
    assert isinstance(error, OpenSureError)
    assert error.status_code == status
    assert error.status == status
    assert error.message == message
    assert error.request_id == "req-from-server"
    assert error.errors == []
    assert error.response is not None
    assert str(status) in str(error) and message in str(error)


def test_validation_error_carries_the_parsed_errors(api: Any) -> None:
    body = {
        "message": "Validation error",
        "errors": [
            {
                "resource": "/feedback_requests/33",
                "field": "state",
                "error": "invalid_value",
                "extra_info": {"allowed_values": ["sent", "pending", "not_sent"]},
            },
            {
                "resource": "/feedback_requests/33",
                "field": "machine_id",
                "error": "wrong_length",
                "extra_info": {"maximum": "36"},
            },
            {"resource": "/feedback_requests/33", "field": "email", "error": "required"},
            "not an error object",
        ],
    }
    api.on("PATCH", "/feedback_requests/33", api.reply(422, body))

    with pytest.raises(UnprocessableEntityError) as caught:
        api.client().feedback_requests.update(33, machine_id="x" * 40)

    errors = caught.value.errors
    assert [(e.field, e.error) for e in errors] == [
        ("state", "invalid_value"),
        ("machine_id", "wrong_length"),
        ("email", "required"),
    ]
    assert errors[0].extra_info == {"allowed_values": ["sent", "pending", "not_sent"]}
    assert errors[1].extra_info["maximum"] == "36"
    assert errors[2].extra_info == {}
    assert errors[0].resource == "/feedback_requests/33"
    assert "machine_id: wrong_length" in str(caught.value)


def test_custom_error_message_is_shown(api: Any) -> None:
    body = {
        "message": "Validation error",
        "errors": [
            {
                "resource": "/sites/",
                "field": "site_code",
                "error": "custom",
                "extra_info": {"message": "is already taken"},
            }
        ],
    }
    api.on("POST", "/sites", api.reply(422, body))
    with pytest.raises(UnprocessableEntityError, match="site_code: custom \\(is already taken\\)"):
        api.client().sites.create(site_code="hq", name="HQ")


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("0.5", 0.5), ("soon", None)])
def test_rate_limit_error_has_retry_after(api: Any, header: str, seconds: float | None) -> None:
    api.on("GET", "/nps", api.reply(429, {"message": "Slow down"}, {"Retry-After": header}))
    with pytest.raises(RateLimitError) as caught:
        api.client(max_retries=0).metrics.nps()
    assert caught.value.retry_after == seconds
    assert caught.value.status_code == 429


def test_rate_limit_error_without_retry_after(api: Any) -> None:
    api.on("GET", "/nps", api.reply(429, {"message": "Slow down"}))
    with pytest.raises(RateLimitError) as caught:
        api.client(max_retries=0).metrics.nps()
    assert caught.value.retry_after is None


def test_error_body_that_is_not_json_uses_the_reason_phrase(api: Any) -> None:
    api.on("GET", "/sites", httpx.Response(502, content=b"<html>Bad Gateway</html>"))
    with pytest.raises(ServerError) as caught:
        api.client(max_retries=0).sites.list()
    assert caught.value.message == "Bad Gateway"
    assert caught.value.status_code == 502


def test_request_id_falls_back_to_the_one_sent(api: Any) -> None:
    api.on("GET", "/sites/hq", httpx.Response(404, json={"message": "Not Found"}))
    with pytest.raises(NotFoundError) as caught:
        api.client().sites.get("hq")
    assert caught.value.request_id == api.last.headers["X-Request-Id"]


def test_connection_error(api: Any) -> None:
    api.on("GET", "/sites/hq", httpx.ConnectError("connection refused"))
    with pytest.raises(APIConnectionError) as caught:
        api.client(max_retries=0).sites.get("hq")
    error = caught.value
    assert type(error) is APIConnectionError
    assert error.status_code is None
    assert "connection refused" in error.message
    assert error.request_id == api.last.headers["X-Request-Id"]


@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("slow")]
)
def test_timeouts(api: Any, exc: Exception) -> None:
    api.on("GET", "/sites/hq", exc)
    with pytest.raises(APITimeoutError) as caught:
        api.client(max_retries=0).sites.get("hq")
    assert isinstance(caught.value, APIConnectionError)
    assert caught.value.status_code is None


def test_too_many_redirects_is_an_opensure_error(api: Any) -> None:
    api.on("GET", "/sites/a", api.reply(301, None, {"Location": "http://testserver/sites/a"}))
    with pytest.raises(OpenSureError):
        api.client().sites.get("a")


def test_success_that_is_not_json(api: Any) -> None:
    api.on("GET", "/sites/hq", httpx.Response(200, content=b"<html>login page</html>"))
    with pytest.raises(UnexpectedResponseError, match="not JSON") as caught:
        api.client().sites.get("hq")
    assert caught.value.status_code == 200


def test_success_of_the_wrong_shape(api: Any) -> None:
    api.on("GET", "/sites/hq", api.reply(200, {"name": "no code"}))
    with pytest.raises(UnexpectedResponseError, match="Site") as caught:
        api.client().sites.get("hq")
    assert caught.value.request_id == "req-from-server"


def test_list_that_is_not_a_list(api: Any) -> None:
    api.on("GET", "/sites", api.reply(200, {"site_code": "hq"}))
    with pytest.raises(UnexpectedResponseError, match="not a list"):
        api.client().sites.list()


async def test_async_client_raises_the_same_classes(async_api: Any) -> None:
    async_api.on("GET", "/sites/hq", async_api.reply(403, {"message": "Unpermitted parameters"}))
    async_api.on("GET", "/sites/x", httpx.ConnectError("refused"))
    client = async_api.async_client(max_retries=0)
    with pytest.raises(PermissionDeniedError) as caught:
        await client.sites.get("hq")
    assert caught.value.request_id == "req-from-server"
    with pytest.raises(APIConnectionError):
        await client.sites.get("x")


def test_the_docstring_draws_every_exception() -> None:
    doc = _errors.__doc__ or ""
    classes = [
        obj
        for obj in vars(_errors).values()
        if isinstance(obj, type) and issubclass(obj, OpenSureError)
    ]
    assert len(classes) == 13
    for cls in classes:
        assert cls.__name__ in doc, cls
        assert cls.__name__ in opensure_client.__all__, cls
