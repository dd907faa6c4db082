"""What each method sends (verb, path, query, JSON, headers) and what it returns."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

import opensure_client
from opensure_client import (
    UNSET,
    AsyncClient,
    Client,
    DataItem,
    FeedbackRequest,
    FeedbackResponse,
    NetPromoterScore,
    ResponseRate,
    Site,
)

# ---- construction ----


def test_headers_of_every_request(api: Any) -> None:
    api.on("GET", "/sites/hq", api.reply(200, api.site()))
    api.client().sites.get("hq")
    headers = api.last.headers
    assert headers["User-Agent"].startswith("Acme Ltd opensure-client/")
    assert headers["Accept"] == "application/vnd.customersure.v1+json"
    assert headers["Authorization"] == 'Token token="os_test_token"'
    assert len(headers["X-Request-Id"]) == 32
    assert "Idempotency-Key" not in headers
    assert str(api.last.url) == "http://testserver/sites/hq"


def test_token_and_base_url_from_the_environment(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENSURE_API_TOKEN", "os_from_env")
    monkeypatch.setenv("OPENSURE_BASE_URL", "https://feedback.example.com/")
    client = Client(user_agent="Acme Ltd")
    try:
        assert client.base_url == httpx.URL("https://feedback.example.com")
        assert client.headers(opensure_client._base.Call("GET", "/x"), "id")["Authorization"] == (
            'Token token="os_from_env"'
        )
    finally:
        client.close()


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENSURE_BASE_URL", raising=False)
    with Client(token="t", user_agent="Acme") as client:
        assert client.base_url == httpx.URL("http://127.0.0.1:8000")
        assert client.timeout.connect == 5.0
        assert client.timeout.read == 30.0
        assert client.max_retries == 2
    assert client._http.is_closed


def test_timeout_may_be_a_number() -> None:
    with Client(token="t", user_agent="Acme", timeout=3) as client:
        assert client.timeout == httpx.Timeout(3)


def test_a_token_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENSURE_API_TOKEN", raising=False)
    with pytest.raises(ValueError, match="OPENSURE_API_TOKEN"):
        Client(user_agent="Acme")


@pytest.mark.parametrize("user_agent", ["", "   "])
def test_a_user_agent_is_required(user_agent: str) -> None:
    with pytest.raises(ValueError, match="user_agent"):
        Client(token="t", user_agent=user_agent)


@pytest.mark.parametrize("base_url", ["ftp://example.com", "example.com"])
def test_base_url_must_be_http(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        Client(token="t", user_agent="Acme", base_url=base_url)


def test_negative_retries_are_refused() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        Client(token="t", user_agent="Acme", max_retries=-1)


def test_a_passed_http_client_is_left_open() -> None:
    http = httpx.Client()
    with Client(token="t", user_agent="Acme", http_client=http):
        pass
    assert not http.is_closed
    http.close()


async def test_async_client_is_an_async_context_manager() -> None:
    async with AsyncClient(token="t", user_agent="Acme") as client:
        assert repr(client) == "AsyncClient(base_url='http://127.0.0.1:8000')" or client.base_url
    assert client._http.is_closed


def test_base_url_path_prefix_is_kept(api: Any) -> None:
    api.on("GET", "/api/sites/hq", api.reply(200, api.site()))
    api.client(base_url="http://testserver/api/").sites.get("hq")
    assert api.last.url.path == "/api/sites/hq"


# ---- feedback requests ----


def test_create_feedback_request(api: Any) -> None:
    api.on("POST", "/feedback_requests", api.reply(201, api.feedback_request(208073)))
    created = api.client().feedback_requests.create(
        email="john.smith@example.com",
        send_at=datetime(2014, 8, 20, 18, 0, tzinfo=timezone(timedelta(hours=1))),
        survey_id=1484,
        first_name="John",
        reference="#1041",
        data={"staff_code": "luke", "site_code": "newcastle"},
    )
    assert api.last.headers["Content-Type"] == "application/json"
    assert api.body() == {
        "email": "john.smith@example.com",
        "send_at": "2014-08-20T17:00:00Z",
        "survey_id": 1484,
        "first_name": "John",
        "reference": "#1041",
        "data": [
            {"key": "staff_code", "value": "luke"},
            {"key": "site_code", "value": "newcastle"},
        ],
    }
    assert isinstance(created, FeedbackRequest)
    assert created.id == 208073
    assert created.send_at == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert created.send_at.tzinfo is not None
    assert created.data == [DataItem(id=7, key="staff_code", value="luke")]
    assert created.data_dict() == {"staff_code": "luke"}


def test_naive_datetimes_are_utc_and_fractions_dropped(api: Any) -> None:
    api.on("POST", "/feedback_requests", api.reply(201, api.feedback_request()))
    api.client().feedback_requests.create(
        email="a@example.com",
        send_at=datetime(2026, 1, 2, 3, 4, 5, 678000),
        survey_id=1,
        data=[("category", "a"), ("category", "b")],
        query_params=[("utm_source", "app")],
        idempotency_key="ticket-4411",
    )
    body = api.body()
    assert body["send_at"] == "2026-01-02T03:04:05Z"
    assert body["data"] == [{"key": "category", "value": "a"}, {"key": "category", "value": "b"}]
    assert body["query_params"] == [{"key": "utm_source", "value": "app"}]
    assert api.last.headers["Idempotency-Key"] == "ticket-4411"


def test_data_must_not_be_a_string(api: Any) -> None:
    with pytest.raises(TypeError, match="data"):
        api.client().feedback_requests.create(
            email="a@example.com", send_at=datetime.now(UTC), survey_id=1, data="staff=luke"
        )


def test_get_feedback_request(api: Any) -> None:
    api.on("GET", "/feedback_requests/5", api.reply(200, api.feedback_request(5)))
    found = api.client().feedback_requests.get(5)
    assert found.id == 5
    assert found.created_at == datetime(2026, 11, 26, 15, 57, 41, tzinfo=UTC)


def test_update_sends_only_the_given_fields(api: Any) -> None:
    api.on("PATCH", "/feedback_requests/5", api.reply(200, api.feedback_request(5)))
    client = api.client()
    client.feedback_requests.update(5, email="kate@example.com")
    assert api.body() == {"email": "kate@example.com"}

    client.feedback_requests.update(
        5,
        email_template_id=None,
        send_at=datetime(2026, 12, 1, 9, 30),
        data=[DataItem(id=7, key="staff_code", value="leia"), ("channel", "phone")],
        reference=UNSET,
    )
    assert api.body() == {
        "email_template_id": None,
        "send_at": "2026-12-01T09:30:00Z",
        "data": [
            {"id": 7, "key": "staff_code", "value": "leia"},
            {"key": "channel", "value": "phone"},
        ],
    }
    assert api.last.method == "PATCH"


def test_delete_feedback_request(api: Any) -> None:
    api.on("DELETE", "/feedback_requests/5", api.reply(204))
    assert api.client().feedback_requests.delete(5) is None
    assert api.last.method == "DELETE"
    assert api.last.content == b""


def test_list_feedback_requests_filters(api: Any) -> None:
    api.on(
        "GET",
        "/feedback_requests",
        api.reply(200, [api.feedback_request(2), api.feedback_request(1)], _totals(2)),
    )
    pager = api.client().feedback_requests.list(
        states=["pending", "sent"], survey_ids=[3, 4], per_page=50
    )
    assert api.last.url.params.multi_items() == [
        ("states[]", "pending"),
        ("states[]", "sent"),
        ("survey_ids[]", "3"),
        ("survey_ids[]", "4"),
        ("per_page", "50"),
    ]
    assert [r.id for r in pager] == [2, 1]

    api.client().feedback_requests.list(states="not_sent")
    assert api.last.url.params.multi_items() == [("states[]", "not_sent")]


# ---- feedback responses ----


def test_get_feedback_response(api: Any) -> None:
    embedded = api.feedback_request(9, state="sent", sent_at="2026-11-26T09:00:01Z")
    del embedded["data"], embedded["query_params"], embedded["deletion_requested_at"]
    api.on(
        "GET",
        "/feedback_responses/1",
        api.reply(200, api.feedback_response(feedback_request=embedded)),
    )
    found = api.client().feedback_responses.get(1)
    assert isinstance(found, FeedbackResponse)
    assert found.fields["name"] == "Kate"
    assert found.answer_to(5) == "10"
    assert found.answer_to(99) is None
    assert found.answers[0].type == "Rating"
    assert found.submitted_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert found.feedback_request is not None
    assert found.feedback_request.sent_at == datetime(2026, 11, 26, 9, 0, 1, tzinfo=UTC)
    assert found.feedback_request.data == []


def test_list_feedback_responses_filters(api: Any) -> None:
    api.on("GET", "/feedback_responses", api.reply(200, [api.feedback_response()], _totals(1)))
    pager = api.client().feedback_responses.list(
        updated_since=datetime(2026, 11, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5))),
        email="Kate@Example.com",
        survey_ids=[12],
    )
    assert api.last.url.params.multi_items() == [
        ("updated_since", "2026-11-01T17:00:00Z"),
        ("email", "Kate@Example.com"),
        ("survey_ids[]", "12"),
    ]
    assert pager.total_count == 1


def test_fields_tolerate_numbers_and_unknown_attributes(api: Any) -> None:
    body = api.feedback_response(
        fields={"telephone_number": 1234567890, "name": None}, sentiment="positive"
    )
    body["submitted_at"] = "2026-11-26T10:00:00"  # no offset: UTC, as the API reads input
    api.on("GET", "/feedback_responses/1", api.reply(200, body))
    found = api.client().feedback_responses.get(1)
    assert found.fields == {"telephone_number": "1234567890", "name": None}
    assert found.model_extra == {"sentiment": "positive"}
    assert found.submitted_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


# ---- metrics ----


def test_nps(api: Any) -> None:
    api.on(
        "GET",
        "/nps",
        api.reply(
            200,
            {
                "net_promoter_score": 70,
                "promoter_count": 75,
                "passive_count": 20,
                "detractor_count": 5,
            },
        ),
    )
    result = api.client().metrics.nps(
        from_time=date(2026, 10, 1), to_time=datetime(2026, 10, 31, 23, 59, 59), question_ids=[1, 2]
    )
    assert result == NetPromoterScore(
        net_promoter_score=70, promoter_count=75, passive_count=20, detractor_count=5
    )
    assert api.last.url.params.multi_items() == [
        ("from_time", "2026-10-01T00:00:00Z"),
        ("to_time", "2026-10-31T23:59:59Z"),
        ("question_ids[]", "1"),
        ("question_ids[]", "2"),
    ]


def test_nps_without_answers_is_none(api: Any) -> None:
    body = {
        "net_promoter_score": None,
        "promoter_count": 0,
        "passive_count": 0,
        "detractor_count": 0,
    }
    api.on("GET", "/nps", api.reply(200, body))
    assert api.client().metrics.nps().net_promoter_score is None
    assert api.last.url.query == b""


def test_response_rate(api: Any) -> None:
    body = {
        "response_rate_percent": 50,
        "sent_count": 100,
        "delivered_count": 50,
        "reply_count": 25,
    }
    api.on("GET", "/response_rate", api.reply(200, body))
    result = api.client().metrics.response_rate(survey_ids=[7])
    assert result == ResponseRate(**body)
    assert api.last.url.params.multi_items() == [("survey_ids[]", "7")]


# ---- sites ----


def test_create_site(api: Any) -> None:
    api.on("POST", "/sites", api.reply(201, api.site("hq", country_code="UK")))
    created = api.client().sites.create(
        site_code="hq", name="Head Office", region="Tyne and Wear", country_code="UK"
    )
    assert api.body() == {
        "site_code": "hq",
        "name": "Head Office",
        "region": "Tyne and Wear",
        "country_code": "UK",
    }
    assert created == Site(site_code="hq", name="Site hq", country_code="UK")


def test_get_site_escapes_the_code(api: Any) -> None:
    api.on("GET", "/sites/a%2Fb", api.reply(200, api.site("a/b")))
    api.on("GET", "/sites/%2E%2E", api.reply(200, api.site("..")))
    client = api.client()
    assert client.sites.get("a/b").site_code == "a/b"
    assert client.sites.get("..").site_code == ".."


def test_update_site_can_rename_and_clear(api: Any) -> None:
    api.on("PATCH", "/sites/hq", api.reply(200, api.site("head-office")))
    renamed = api.client().sites.update("hq", site_code="head-office", city=None)
    assert api.body() == {"site_code": "head-office", "city": None}
    assert renamed.site_code == "head-office"


def test_replace_site_sends_every_field(api: Any) -> None:
    api.on("PUT", "/sites/hq", api.reply(200, api.site()))
    api.client().sites.replace("hq", name="Head Office")
    assert api.body() == {
        "site_code": "hq",
        "name": "Head Office",
        "city": None,
        "region": None,
        "country_code": None,
    }


def test_delete_site(api: Any) -> None:
    api.on("DELETE", "/sites/hq", api.reply(204))
    assert api.client().sites.delete("hq") is None


def test_list_sites(api: Any) -> None:
    api.on("GET", "/sites", api.reply(200, [api.site("a"), api.site("b")], _totals(2)))
    assert [s.site_code for s in api.client().sites.list(per_page=100)] == ["a", "b"]
    assert api.last.url.params["per_page"] == "100"


# ---- the async client sends the same ----


async def test_async_client_sends_the_same_requests(async_api: Any) -> None:
    a = async_api
    a.on("POST", "/feedback_requests", a.reply(201, a.feedback_request(1)))
    a.on("GET", "/feedback_requests/1", a.reply(200, a.feedback_request(1)))
    a.on("PATCH", "/feedback_requests/1", a.reply(200, a.feedback_request(1)))
    a.on("DELETE", "/feedback_requests/1", a.reply(204))
    a.on("GET", "/feedback_responses/1", a.reply(200, a.feedback_response(1)))
    a.on(
        "GET",
        "/nps",
        a.reply(
            200,
            {
                "promoter_count": 1,
                "passive_count": 0,
                "detractor_count": 0,
                "net_promoter_score": 100,
            },
        ),
    )
    a.on(
        "GET",
        "/response_rate",
        a.reply(
            200,
            {"response_rate_percent": 0, "sent_count": 0, "delivered_count": 0, "reply_count": 0},
        ),
    )
    a.on("POST", "/sites", a.reply(201, a.site()))
    a.on("GET", "/sites/hq", a.reply(200, a.site()))
    a.on("PATCH", "/sites/hq", a.reply(200, a.site()))
    a.on("PUT", "/sites/hq", a.reply(201, a.site()))
    a.on("DELETE", "/sites/hq", a.reply(204))
    client = a.async_client()

    await client.feedback_requests.create(
        email="a@example.com", send_at=datetime(2026, 1, 1), survey_id=1, data={"k": "v"}
    )
    assert a.body() == {
        "email": "a@example.com",
        "send_at": "2026-01-01T00:00:00Z",
        "survey_id": 1,
        "data": [{"key": "k", "value": "v"}],
    }
    assert (await client.feedback_requests.get(1)).id == 1
    await client.feedback_requests.update(1, first_name=None)
    assert a.body() == {"first_name": None}
    assert await client.feedback_requests.delete(1) is None
    assert (await client.feedback_responses.get(1)).id == 1
    assert (await client.metrics.nps(from_time=date(2026, 1, 1))).net_promoter_score == 100
    assert a.last.url.params["from_time"] == "2026-01-01T00:00:00Z"
    assert (await client.metrics.response_rate()).sent_count == 0
    await client.sites.create(site_code="hq", name="HQ")
    assert (await client.sites.get("hq")).site_code == "hq"
    await client.sites.update("hq", name="Main")
    assert a.body() == {"name": "Main"}
    await client.sites.replace("hq", name="Main", city="Leeds")
    assert a.body()["city"] == "Leeds"
    assert await client.sites.delete("hq") is None
    methods = [r.method for r in a.requests]
    assert methods == [
        *("POST", "GET", "PATCH", "DELETE", "GET", "GET", "GET"),
        *("POST", "GET", "PATCH", "PUT", "DELETE"),
    ]


def _totals(count: int, pages: int = 1) -> dict[str, str]:
    return {"X-Total-Count": str(count), "X-Total-Pages": str(pages)}


def test_request_body_is_compact_json(api: Any) -> None:
    api.on("POST", "/sites", api.reply(201, api.site()))
    api.client().sites.create(site_code="hq", name="Café")
    assert json.loads(api.last.content)["name"] == "Café"
