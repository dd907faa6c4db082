"""Redirects are followed: 301 for reads, 307 keeping the method and body."""

from __future__ import annotations

import json
from typing import Any

from opensure_client._base import Call

BASE = "http://testserver"


def test_301_is_followed(api: Any) -> None:
    # A renamed site: its old code answers 301 to the new one.
    api.on(
        "GET",
        "/sites/old",
        api.reply(301, {"message": "Moved Permanently"}, {"Location": f"{BASE}/sites/new"}),
    )
    api.on("GET", "/sites/new", api.reply(200, api.site("new")))
    site = api.client().sites.get("old")
    assert site.site_code == "new"
    assert [r.url.path for r in api.requests] == ["/sites/old", "/sites/new"]
    assert api.requests[1].headers["Authorization"] == 'Token token="os_test_token"'


def test_307_keeps_method_and_body(api: Any) -> None:
    api.on("PATCH", "/sites/old", api.reply(307, None, {"Location": f"{BASE}/sites/new"}))
    api.on("PATCH", "/sites/new", api.reply(200, api.site("new", name="Renamed")))
    site = api.client().sites.update("old", name="Renamed")
    assert site.name == "Renamed"
    assert [(r.method, r.url.path) for r in api.requests] == [
        ("PATCH", "/sites/old"),
        ("PATCH", "/sites/new"),
    ]
    assert json.loads(api.requests[1].content) == {"name": "Renamed"}
    assert api.requests[1].headers["Content-Type"] == "application/json"


def test_307_on_post_keeps_the_body(api: Any) -> None:
    # A trailing-slash redirect (the API answers 307 for verbs other than GET/HEAD).
    api.on("POST", "/sites/", api.reply(307, None, {"Location": f"{BASE}/sites"}))
    api.on("POST", "/sites", api.reply(201, api.site()))
    client = api.client(base_url=BASE)
    client._request(Call("POST", "/sites/", json={"site_code": "hq", "name": "HQ"}))
    assert [r.method for r in api.requests] == ["POST", "POST"]
    assert api.requests[1].content == api.requests[0].content


def test_307_on_delete(api: Any) -> None:
    api.on("DELETE", "/sites/old", api.reply(307, None, {"Location": f"{BASE}/sites/new"}))
    api.on("DELETE", "/sites/new", api.reply(204))
    api.client().sites.delete("old")
    assert [(r.method, r.url.path) for r in api.requests] == [
        ("DELETE", "/sites/old"),
        ("DELETE", "/sites/new"),
    ]


def test_the_token_is_not_sent_to_another_host(api: Any) -> None:
    api.on("GET", "/sites/hq", api.reply(302, None, {"Location": "http://elsewhere.example/x"}))
    api.on("GET", "/x", api.reply(200, api.site()))
    api.client().sites.get("hq")
    assert api.requests[1].url.host == "elsewhere.example"
    assert "Authorization" not in api.requests[1].headers


async def test_async_client_follows_redirects(async_api: Any) -> None:
    async_api.on(
        "PATCH", "/sites/old", async_api.reply(307, None, {"Location": f"{BASE}/sites/new"})
    )
    async_api.on("PATCH", "/sites/new", async_api.reply(200, async_api.site("new")))
    site = await async_api.async_client().sites.update("old", city="Leeds")
    assert site.site_code == "new"
    assert json.loads(async_api.requests[1].content) == {"city": "Leeds"}
