"""SPEC §3 pagination and array query parameters, on GET /feedback_requests."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from opensure.models import FeedbackRequest
from tests.api.helpers import bulk_insert_requests, create_request, parse_links
from tests.conftest import BASE, Account

URL = f"{BASE}/feedback_requests"


def emails(body: list[dict[str, object]]) -> list[object]:
    return [x["email"] for x in body]


async def test_defaults_are_page_1_of_30(app: FastAPI, account: Account) -> None:
    await bulk_insert_requests(app, account, 35)
    r = await account.get("/feedback_requests")
    assert r.status_code == 200
    body = r.json()
    assert len(body) == 30
    # Newest send_at first: c34 … c5.
    assert emails(body) == [f"c{i}@example.com" for i in range(34, 4, -1)]
    assert r.headers["x-total-count"] == "35"
    assert r.headers["x-total-pages"] == "2"
    links = parse_links(r.headers["link"])
    assert set(links) == {"first", "next", "last"}
    assert links["first"] == (URL, [("page", "1")])
    assert links["next"] == (URL, [("page", "2")])
    assert links["last"] == (URL, [("page", "2")])


async def test_last_page(app: FastAPI, account: Account) -> None:
    await bulk_insert_requests(app, account, 35)
    r = await account.get("/feedback_requests?page=2")
    assert r.status_code == 200
    assert emails(r.json()) == [f"c{i}@example.com" for i in range(4, -1, -1)]
    links = parse_links(r.headers["link"])
    assert set(links) == {"first", "prev", "last"}
    assert links["prev"] == (URL, [("page", "1")])
    assert links["last"] == (URL, [("page", "2")])


async def test_middle_page_with_per_page(app: FastAPI, account: Account) -> None:
    await bulk_insert_requests(app, account, 25)
    r = await account.get("/feedback_requests?per_page=10&page=2")
    assert r.status_code == 200
    assert emails(r.json()) == [f"c{i}@example.com" for i in range(14, 4, -1)]
    assert r.headers["x-total-count"] == "25"
    assert r.headers["x-total-pages"] == "3"
    links = parse_links(r.headers["link"])
    assert set(links) == {"first", "prev", "next", "last"}
    for rel, page in (("first", "1"), ("prev", "1"), ("next", "3"), ("last", "3")):
        url, query = links[rel]
        assert url == URL
        assert sorted(query) == [("page", page), ("per_page", "10")], rel


async def test_following_next_visits_every_request_once(app: FastAPI, account: Account) -> None:
    await bulk_insert_requests(app, account, 23)
    seen: list[object] = []
    path: str | None = "/feedback_requests?per_page=5"
    pages = 0
    while path is not None:
        r = await account.get(path)
        assert r.status_code == 200
        seen.extend(emails(r.json()))
        pages += 1
        links = parse_links(r.headers["link"])
        if "next" in links:
            url, query = links["next"]
            path = url.removeprefix(BASE) + "?" + "&".join(f"{k}={v}" for k, v in query)
        else:
            path = None
        assert pages <= 10
    assert pages == 5
    assert seen == [f"c{i}@example.com" for i in range(22, -1, -1)]


@pytest.mark.parametrize(("per_page", "expected"), [("100", 100), ("101", 100), ("5000", 100)])
async def test_per_page_is_capped_at_100(
    app: FastAPI, account: Account, per_page: str, expected: int
) -> None:
    await bulk_insert_requests(app, account, 105)
    r = await account.get(f"/feedback_requests?per_page={per_page}")
    assert r.status_code == 200
    assert len(r.json()) == expected
    assert r.headers["x-total-count"] == "105"
    assert r.headers["x-total-pages"] == "2"
    r = await account.get(f"/feedback_requests?per_page={per_page}&page=2")
    assert len(r.json()) == 5


async def test_per_page_smaller_than_default(app: FastAPI, account: Account) -> None:
    await bulk_insert_requests(app, account, 3)
    r = await account.get("/feedback_requests?per_page=1")
    assert len(r.json()) == 1
    assert r.headers["x-total-pages"] == "3"


@pytest.mark.parametrize("name", ["page", "per_page"])
@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", "1e2", "٣"])
async def test_invalid_page_values_are_422(account: Account, name: str, value: str) -> None:
    r = await account.get(f"/feedback_requests?{name}={value}")
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["message"] == "Validation error"
    assert body["errors"] == [
        {
            "resource": "/feedback_requests/",
            "field": name,
            "error": "invalid_value",
            "extra_info": {"greater_than": "0", "must_be": "integer"},
        }
    ]


async def test_bad_page_and_per_page_reported_together(account: Account) -> None:
    r = await account.get("/feedback_requests?page=0&per_page=x&states[]=bogus")
    assert r.status_code == 422
    fields = sorted(e["field"] for e in r.json()["errors"])
    assert fields == ["page", "per_page", "states"]


async def test_page_past_the_end_is_empty(app: FastAPI, account: Account) -> None:
    await bulk_insert_requests(app, account, 3)
    r = await account.get("/feedback_requests?page=7")
    assert r.status_code == 200
    assert r.json() == []
    assert r.headers["x-total-count"] == "3"
    assert r.headers["x-total-pages"] == "1"
    links = parse_links(r.headers["link"])
    assert links["first"] == (URL, [("page", "1")])
    assert links["last"] == (URL, [("page", "1")])
    assert "next" not in links
    r = await account.get("/feedback_requests?page=999999999999")
    assert r.status_code in (200, 422)
    if r.status_code == 200:
        assert r.json() == []


async def test_empty_collection_has_one_page(account: Account) -> None:
    r = await account.get("/feedback_requests")
    assert r.status_code == 200
    assert r.json() == []
    assert r.headers["x-total-count"] == "0"
    assert r.headers["x-total-pages"] == "1"
    links = parse_links(r.headers["link"])
    assert set(links) == {"first", "last"}
    assert links["first"] == links["last"] == (URL, [("page", "1")])


async def test_links_keep_the_other_query_parameters(app: FastAPI, account: Account) -> None:
    await bulk_insert_requests(app, account, 5)
    query = f"states[]=pending&survey_ids={account.survey_id}&per_page=2&page=2"
    r = await account.get(f"/feedback_requests?{query}")
    assert r.status_code == 200
    assert len(r.json()) == 2
    links = parse_links(r.headers["link"])
    assert set(links) == {"first", "prev", "next", "last"}
    for rel, page in (("first", "1"), ("prev", "1"), ("next", "3"), ("last", "3")):
        url, pairs = links[rel]
        assert url == URL
        assert sorted(pairs) == sorted(
            [
                ("states[]", "pending"),
                ("survey_ids", str(account.survey_id)),
                ("per_page", "2"),
                ("page", page),
            ]
        ), rel


async def test_links_keep_repeated_parameters(app: FastAPI, account: Account) -> None:
    await bulk_insert_requests(app, account, 3)
    r = await account.get("/feedback_requests?states=pending&states=sent&per_page=1")
    links = parse_links(r.headers["link"])
    _, pairs = links["next"]
    assert sorted(pairs) == [
        ("page", "2"),
        ("per_page", "1"),
        ("states", "pending"),
        ("states", "sent"),
    ]


async def test_links_are_absolute_behind_a_proxy(account: Account) -> None:
    r = await account.get(
        "/feedback_requests",
        headers={"X-Forwarded-Host": "api.example.org", "X-Forwarded-Proto": "https"},
    )
    links = parse_links(r.headers["link"])
    assert links["first"][0] == "https://api.example.org/feedback_requests"


# ---- Array parameters ------------------------------------------------------------------------


@pytest.fixture
async def three_states(app: FastAPI, account: Account) -> dict[str, int]:
    ids = {}
    for state in ("pending", "sent", "not_sent"):
        created = await create_request(account, email=f"{state}@example.com")
        ids[state] = created["id"]
        if state != "pending":
            t = FeedbackRequest.__table__
            async with app.state.engine.begin() as conn:
                await conn.execute(update(t).where(t.c.id == created["id"]).values(state=state))
    return ids


@pytest.mark.parametrize(
    "query",
    [
        "states[]=pending&states[]=sent",
        "states=pending&states=sent",
        "states=pending,sent",
        "states=pending, sent",
        "states[]=pending,sent",
        "states[]=pending&states=sent",
        "state=pending&states[]=sent",
    ],
)
async def test_array_spellings(account: Account, three_states: dict[str, int], query: str) -> None:
    r = await account.get(f"/feedback_requests?{query}")
    assert r.status_code == 200, r.text
    assert sorted(x["id"] for x in r.json()) == sorted(
        [three_states["pending"], three_states["sent"]]
    )
    assert r.headers["x-total-count"] == "2"


@pytest.mark.parametrize("query", ["states[]=not_sent", "states=not_sent", "state=not_sent"])
async def test_single_value_spellings(
    account: Account, three_states: dict[str, int], query: str
) -> None:
    r = await account.get(f"/feedback_requests?{query}")
    assert [x["id"] for x in r.json()] == [three_states["not_sent"]]


async def test_percent_encoded_brackets(account: Account, three_states: dict[str, int]) -> None:
    r = await account.get("/feedback_requests?states%5B%5D=sent&states%5B%5D=not_sent")
    assert r.status_code == 200
    assert sorted(x["id"] for x in r.json()) == sorted(
        [three_states["sent"], three_states["not_sent"]]
    )
