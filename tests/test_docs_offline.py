"""Nothing from other hosts (issue 13 §6): /docs and /redoc load only OpenSure's own files, and
a browser opening / is led to the console while API clients keep the gate's answers."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from opensure.api.negotiation import prefers_html
from tests.api.helpers import raw
from tests.conftest import MEDIA_TYPE, Account
from tests.fixtures.browser import driver
from tests.fixtures.server import OpenSureServer, opensure_server

__all__ = ["driver", "opensure_server"]  # fixtures: Chromium, and a real `opensure serve`

# What each asset must be served as (the browser refuses a script or style of another type
# under nosniff, and then the page is blank).
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


class _Refs(HTMLParser):
    """Every URL a page makes the browser load: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src", "iframe": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def loaded_urls(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    # The specification the inline script fetches: Swagger UI's `url: '…'`, ReDoc's spec-url.
    parser.urls += re.findall(r"""\burl:\s*'([^']*)'""", html)
    parser.urls += re.findall(r"""spec-url="([^"]*)\"""", html)
    return parser.urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_only_same_origin_assets(
    client: httpx.AsyncClient, page: str
) -> None:
    r = await raw(client, "GET", page, {})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    urls = loaded_urls(r.text)
    assert "/openapi.json" in urls
    assert any(u.endswith(".js") for u in urls), urls
    for url in urls:
        # Same origin: a path on this server, not another host (nor a scheme-relative //host).
        assert url.startswith("/") and not url.startswith("//"), url
    # And no absolute URL anywhere in the page (fonts, favicons, validator badges).
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", r.text), r.text
    assert "fonts.googleapis" not in r.text and "cdn." not in r.text
    # The browser is told so too: nothing but this server for scripts, styles, images.
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "img-src 'self' data:" in csp
    assert "http" not in csp


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_every_asset_of_the_docs_answers_with_its_type(
    client: httpx.AsyncClient, page: str
) -> None:
    html = (await raw(client, "GET", page, {})).text
    assets = [u for u in loaded_urls(html) if u != "/openapi.json"]
    assert assets
    for url in assets:
        # An API client's headers or none at all: the assets are outside the gate.
        r = await raw(client, "GET", url, {})
        assert r.status_code == 200, url
        suffix = url[url.rfind(".") :]
        assert r.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], url
        assert len(r.content) > 0


async def test_swagger_ui_is_one_that_reads_openapi_3_1(client: httpx.AsyncClient) -> None:
    # FastAPI writes OpenAPI 3.1; Swagger UI before 5 shows "Unable to render this definition".
    spec = (await raw(client, "GET", "/openapi.json", {})).json()
    assert spec["openapi"].startswith("3.1")
    html = (await raw(client, "GET", "/docs", {})).text
    bundle = next(u for u in loaded_urls(html) if u.endswith("swagger-ui-bundle.js"))
    js = (await raw(client, "GET", bundle, {})).text
    # Swagger UI 5's plugin for OpenAPI 3.1 (swagger-ui-bundle on PyPI still ships 4.15).
    assert "OAS31" in js


async def test_swagger_oauth2_redirect_page_is_served(client: httpx.AsyncClient) -> None:
    r = await raw(client, "GET", "/docs/oauth2-redirect", {})
    assert r.status_code == 200
    assert "http://" not in r.text and "https://" not in r.text


def network(browser: Any) -> set[str]:
    """The URLs the page asked for since the last call, less those its CSP blocked before
    any request left the browser (ReDoc's Redocly logo)."""
    urls: dict[str, str] = {}
    blocked: set[str] = set()
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.loadingFailed" and params.get("blockedReason"):
            blocked.add(params["requestId"])
    return {url for request_id, url in urls.items() if request_id not in blocked}


@pytest.mark.e2e
@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_docs_pages_in_chromium_load_only_from_this_server(
    driver: Any, opensure_server: OpenSureServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    base = opensure_server.base_url
    origin = urlsplit(base).netloc
    for page, rendered in (("/docs", ".opblock"), ("/redoc", "[role=menuitem], li[data-item-id]")):
        network(driver)
        driver.get(base + page)
        WebDriverWait(driver, 20).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, rendered))
        )
        requested = network(driver)
        assert f"{base}/openapi.json" in requested, (page, requested)
        elsewhere = {
            url
            for url in requested
            # The web's schemes (not data:, blob:, nor the browser's own chrome:// pages).
            if urlsplit(url).scheme in ("http", "https", "ws", "wss")
            and urlsplit(url).netloc != origin
        }
        assert not elsewhere, (page, elsewhere)


@pytest.mark.e2e
@pytest.mark.parametrize("opensure_server", ["sqlite"], indirect=True)
async def test_chromium_opening_the_root_lands_in_the_console(
    driver: Any, opensure_server: OpenSureServer
) -> None:
    driver.get(opensure_server.base_url + "/")
    assert urlsplit(driver.current_url).path.startswith("/app/"), driver.current_url


# ---- / for browsers and for API clients ------------------------------------------------------

BROWSERS = {
    "firefox": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "chrome": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
    "safari": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "plain": "text/html",
}


@pytest.mark.parametrize("accept", BROWSERS.values(), ids=BROWSERS.keys())
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_a_browser_opening_the_root_is_led_to_the_console(
    client: httpx.AsyncClient, accept: str, method: str
) -> None:
    r = await raw(client, method, "/", {"User-Agent": "Mozilla/5.0", "Accept": accept})
    assert r.status_code == 303
    assert r.headers["location"] == "http://testserver/app/"
    assert r.content == b""


NOT_ACCEPTABLE = (
    b'{"message":"Unsupported or missing API version in the Accept header. '
    b"Send 'Accept: application/vnd.customersure.v1+json'\"}"
)
BAD_USER_AGENT = b'{"message":"Missing or invalid User Agent string"}'
BAD_CREDENTIALS = b'{"message":"Bad credentials"}'


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        ({"User-Agent": "Acme"}, 406, NOT_ACCEPTABLE),
        ({"User-Agent": "Acme", "Accept": "*/*"}, 406, NOT_ACCEPTABLE),
        ({"User-Agent": "Acme", "Accept": "application/json"}, 406, NOT_ACCEPTABLE),
        ({"User-Agent": "Acme", "Accept": "text/html;q=0.5, */*"}, 406, NOT_ACCEPTABLE),
        ({"User-Agent": "Acme", "Accept": MEDIA_TYPE}, 401, BAD_CREDENTIALS),
        (
            {"User-Agent": "Acme", "Accept": f"text/html, {MEDIA_TYPE}"},
            401,
            BAD_CREDENTIALS,
        ),
        ({"Accept": "*/*"}, 403, BAD_USER_AGENT),
        ({}, 403, BAD_USER_AGENT),
    ],
    ids=[
        "no-accept",
        "any",
        "json",
        "html-not-first",
        "vendor",
        "vendor-beside-html",
        "no-user-agent",
        "nothing",
    ],
)
async def test_api_clients_at_the_root_keep_the_gates_answer(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, body: bytes
) -> None:
    r = await raw(client, "GET", "/", headers)
    assert r.status_code == status
    assert r.content == body
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert "location" not in r.headers


async def test_an_api_client_with_a_token_at_the_root_gets_404_json(account: Account) -> None:
    r = await account.get("/")
    assert r.status_code == 404
    assert r.json() == {"message": "Not Found"}


async def test_a_browser_posting_to_the_root_is_not_redirected(
    client: httpx.AsyncClient,
) -> None:
    r = await raw(client, "POST", "/", {"User-Agent": "Mozilla/5.0", "Accept": "text/html"})
    assert r.status_code == 406


async def test_only_the_root_is_redirected(client: httpx.AsyncClient) -> None:
    headers = {"User-Agent": "Mozilla/5.0", "Accept": BROWSERS["firefox"]}
    r = await raw(client, "GET", "/feedback_requests", headers)
    assert r.status_code == 406


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("text/*", False),
        ("text/html", True),
        ("TEXT/HTML; charset=utf-8", True),
        ("application/json, text/html", True),
        ("application/json;q=0.9, text/html;q=0.8", False),
        ("text/html;q=0", False),
        ("text/html;q=bad", False),
        (f"text/html, {MEDIA_TYPE}", False),
    ],
)
def test_prefers_html(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html
