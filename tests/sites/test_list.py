"""GET /sites: sorted by name case-insensitively, then site_code; paginated (SPEC §3)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.conftest import BASE, Account
from tests.sites.helpers import JSON_CT, create_site, site

URL = f"{BASE}/sites"


def parse_links(header: str) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """rel → (absolute URL without query, query pairs)."""
    links = {}
    for part in header.split(","):
        m = re.fullmatch(r'\s*<([^>]*)>\s*;\s*rel="([^"]+)"\s*', part)
        assert m is not None, header
        url = urlsplit(m[1])
        links[m[2]] = (f"{url.scheme}://{url.netloc}{url.path}", sorted(parse_qsl(url.query)))
    return links


def codes(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [s["site_code"] for s in r.json()]


async def test_empty_list(account: Account) -> None:
    r = await account.get("/sites")
    assert r.status_code == 200
    assert r.headers["content-type"] == JSON_CT
    assert r.json() == []
    assert r.headers["x-total-count"] == "0"
    assert r.headers["x-total-pages"] == "1"
    links = parse_links(r.headers["link"])
    assert links == {"first": (URL, [("page", "1")]), "last": (URL, [("page", "1")])}


async def test_sorted_by_name_ignoring_case_then_site_code(account: Account) -> None:
    for code, name in [
        ("c1", "banana"),
        ("z9", "Apple"),
        ("b2", "cherry"),
        ("a1", "apple"),
        ("m5", "Banana"),
        ("x1", "APPLE pie"),
        ("d4", "Zebra"),
        ("e5", "aardvark"),
    ]:
        await create_site(account, site_code=code, name=name)
    r = await account.get("/sites")
    # apple/Apple tie on name → site_code a1 before z9; banana/Banana → c1 before m5.
    assert codes(r) == ["e5", "a1", "z9", "x1", "c1", "m5", "b2", "d4"]
    assert r.json()[1] == site("a1", "apple")
    assert r.headers["x-total-count"] == "8"


async def test_case_is_ignored_beyond_ascii(account: Account) -> None:
    for code, name in [
        ("a", "\u00e9clair"),
        ("b", "\u00c9clair"),
        ("c", "\u00c4rger"),
        ("d", "\u00e4rger"),
    ]:
        await create_site(account, site_code=code, name=name)
    r = await account.get("/sites")
    # Ärger/ärger and éclair/Éclair tie on name, so each pair is in site_code order.
    assert codes(r) == ["c", "d", "a", "b"]


async def test_list_shows_full_sites(account: Account) -> None:
    await create_site(
        account,
        site_code="hq",
        name="Head Office",
        city="Newcastle",
        region="Tyne and Wear",
        country_code="uk",
    )
    r = await account.get("/sites")
    assert r.json() == [site("hq", "Head Office", "Newcastle", "Tyne and Wear", "UK")]


async def test_pagination_headers_and_pages(account: Account) -> None:
    for i in range(35):
        await create_site(account, site_code=f"s{i:02d}", name=f"Site {i:02d}")
    r = await account.get("/sites")
    assert codes(r) == [f"s{i:02d}" for i in range(30)]
    assert r.headers["x-total-count"] == "35"
    assert r.headers["x-total-pages"] == "2"
    links = parse_links(r.headers["link"])
    assert links == {
        "first": (URL, [("page", "1")]),
        "next": (URL, [("page", "2")]),
        "last": (URL, [("page", "2")]),
    }
    r = await account.get("/sites?page=2")
    assert codes(r) == [f"s{i:02d}" for i in range(30, 35)]
    assert set(parse_links(r.headers["link"])) == {"first", "prev", "last"}

    r = await account.get("/sites?per_page=10&page=2")
    assert codes(r) == [f"s{i:02d}" for i in range(10, 20)]
    assert r.headers["x-total-pages"] == "4"
    links = parse_links(r.headers["link"])
    assert links["prev"] == (URL, [("page", "1"), ("per_page", "10")])
    assert links["next"] == (URL, [("page", "3"), ("per_page", "10")])
    assert links["last"] == (URL, [("page", "4"), ("per_page", "10")])

    r = await account.get("/sites?page=9")
    assert r.status_code == 200
    assert r.json() == []
    assert r.headers["x-total-count"] == "35"

    assert len((await account.get("/sites?per_page=500")).json()) == 35


async def test_bad_paging_values_are_422(account: Account) -> None:
    for query in ("page=0", "page=x", "per_page=-1", "per_page=1.5"):
        r = await account.get(f"/sites?{query}")
        assert r.status_code == 422, query
        assert r.json()["errors"][0]["error"] == "invalid_value"


async def test_unknown_query_parameter_is_403(account: Account) -> None:
    r = await account.get("/sites?name=x")
    assert r.status_code == 403
    assert "name" in r.json()["message"]


async def test_lists_are_separate_per_account(account: Account, other_account: Account) -> None:
    await create_site(account, site_code="mine", name="Mine")
    await create_site(other_account, site_code="theirs", name="Theirs")
    await create_site(other_account, site_code="mine", name="Also called mine")
    r = await account.get("/sites")
    assert r.json() == [site("mine", "Mine")]
    assert r.headers["x-total-count"] == "1"
    r = await other_account.get("/sites")
    assert r.json() == [site("mine", "Also called mine"), site("theirs", "Theirs")]
    assert r.headers["x-total-count"] == "2"
