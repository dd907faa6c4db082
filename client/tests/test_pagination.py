"""Pagers follow Link: rel="next" across pages and expose the totals."""

from __future__ import annotations

from typing import Any

import pytest

from opensure_client import AsyncPager, Page, Pager, Site, UnexpectedResponseError

BASE = "http://testserver"


def _link(page: int, last: int, query: str = "per_page=2") -> str:
    def url(n: int) -> str:
        return f"<{BASE}/sites?{query}&page={n}>"

    links = [f'{url(1)}; rel="first"']
    if page > 1:
        links.append(f'{url(page - 1)}; rel="prev"')
    if page < last:
        links.append(f'{url(page + 1)}; rel="next"')
    links.append(f'{url(last)}; rel="last"')
    return ", ".join(links)


def _three_pages(api: Any) -> None:
    codes = [["a", "b"], ["c", "d"], ["e"]]
    for number, page_codes in enumerate(codes, start=1):
        headers = {"Link": _link(number, 3), "X-Total-Count": "5", "X-Total-Pages": "3"}
        body = [api.site(code) for code in page_codes]
        path = "/sites?per_page=2" if number == 1 else f"/sites?per_page=2&page={number}"
        api.on("GET", path, api.reply(200, body, headers))


def test_iterates_every_item_across_pages(api: Any) -> None:
    _three_pages(api)
    pager = api.client().sites.list(per_page=2)
    assert isinstance(pager, Pager)
    assert len(api.requests) == 1  # the first page is fetched by list()
    assert pager.total_count == 5
    assert pager.total_pages == 3

    sites = list(pager)

    assert [s.site_code for s in sites] == ["a", "b", "c", "d", "e"]
    assert all(isinstance(s, Site) for s in sites)
    assert [r.url.params.get("page") for r in api.requests] == [None, "2", "3"]
    # Every page request carries the API headers.
    assert all(r.headers["Authorization"] == 'Token token="os_test_token"' for r in api.requests)


def test_walks_page_by_page(api: Any) -> None:
    _three_pages(api)
    pager = api.client().sites.list(per_page=2)
    pages = list(pager.pages())
    assert [len(p) for p in pages] == [2, 2, 1]
    assert all(isinstance(p, Page) for p in pages)
    assert [p.has_next for p in pages] == [True, True, False]
    assert pages[1].links["prev"] == f"{BASE}/sites?per_page=2&page=1"
    assert pages[2].total_count == 5
    assert [s.site_code for s in pages[2]] == ["e"]
    assert pager.first_page is pages[0]


def test_iterating_twice_starts_again(api: Any) -> None:
    _three_pages(api)
    pager = api.client().sites.list(per_page=2)
    assert len(list(pager)) == 5
    assert len(list(pager)) == 5
    assert len(api.requests) == 5  # page 1 once, pages 2 and 3 twice


def test_link_to_another_host_is_followed_on_the_configured_one(api: Any) -> None:
    # A server whose public URL is misconfigured still pages, and the token stays here.
    link = '<http://127.0.0.1:8000/sites?page=2>; rel="next"'
    api.on("GET", "/sites", api.reply(200, [api.site("a")], {"Link": link}))
    api.on("GET", "/sites?page=2", api.reply(200, [api.site("b")], {"Link": ""}))
    codes = [s.site_code for s in api.client().sites.list()]
    assert codes == ["a", "b"]
    assert str(api.requests[1].url) == f"{BASE}/sites?page=2"


def test_relative_link(api: Any) -> None:
    api.on(
        "GET", "/sites", api.reply(200, [api.site("a")], {"Link": '</sites?page=2>; rel="next"'})
    )
    api.on("GET", "/sites?page=2", api.reply(200, [api.site("b")], {"Link": ""}))
    assert [s.site_code for s in api.client().sites.list()] == ["a", "b"]


def test_without_link_header_pages_by_number(api: Any) -> None:
    totals = {"X-Total-Count": "3", "X-Total-Pages": "2"}
    api.on("GET", "/sites", api.reply(200, [api.site("a"), api.site("b")], totals))
    api.on("GET", "/sites?page=2", api.reply(200, [api.site("c")], totals))
    assert [s.site_code for s in api.client().sites.list()] == ["a", "b", "c"]


def test_a_link_to_itself_ends_the_walk(api: Any) -> None:
    link = f'<{BASE}/sites>; rel="next"'
    api.on("GET", "/sites", api.reply(200, [api.site("a")], {"Link": link}))
    assert [s.site_code for s in api.client().sites.list()] == ["a"]


def test_empty_list(api: Any) -> None:
    headers = {"Link": _link(1, 1), "X-Total-Count": "0", "X-Total-Pages": "1"}
    api.on("GET", "/sites", api.reply(200, [], headers))
    pager = api.client().sites.list()
    assert list(pager) == []
    assert pager.total_count == 0
    assert pager.total_pages == 1


def test_missing_totals_raise_only_when_read(api: Any) -> None:
    api.on("GET", "/sites", api.reply(200, [api.site("a")]))
    pager = api.client().sites.list()
    assert [s.site_code for s in pager] == ["a"]
    with pytest.raises(UnexpectedResponseError, match="X-Total-Count"):
        _ = pager.total_count


def test_filters_are_kept_on_next_pages(api: Any) -> None:
    query = "states%5B%5D=sent&per_page=1"
    link = f'<{BASE}/feedback_requests?{query}&page=2>; rel="next"'
    api.on(
        "GET",
        f"/feedback_requests?{query}",
        api.reply(200, [api.feedback_request(2)], {"Link": link}),
    )
    api.on(
        "GET",
        f"/feedback_requests?{query}&page=2",
        api.reply(200, [api.feedback_request(1)], {"Link": ""}),
    )
    pager = api.client().feedback_requests.list(states=["sent"], per_page=1)
    assert [r.id for r in pager] == [2, 1]
    assert api.requests[1].url.params.multi_items() == [
        ("states[]", "sent"),
        ("per_page", "1"),
        ("page", "2"),
    ]


async def test_async_pager_iterates_across_pages(async_api: Any) -> None:
    _three_pages(async_api)
    client = async_api.async_client()
    pager = client.sites.list(per_page=2)
    assert isinstance(pager, AsyncPager)
    assert async_api.requests == []  # nothing is fetched before it is awaited or iterated
    with pytest.raises(RuntimeError, match="await"):
        _ = pager.total_count

    codes = [s.site_code async for s in pager]

    assert codes == ["a", "b", "c", "d", "e"]
    assert pager.total_count == 5


async def test_async_pager_awaited_then_walked_by_page(async_api: Any) -> None:
    _three_pages(async_api)
    client = async_api.async_client()
    pager = await client.sites.list(per_page=2)
    assert pager.total_pages == 3
    assert len(async_api.requests) == 1
    sizes = [len(page) async for page in pager.pages()]
    assert sizes == [2, 2, 1]
    assert len(async_api.requests) == 3  # the first page was not fetched again
