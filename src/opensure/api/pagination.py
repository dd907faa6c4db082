"""page/per_page parameters and the Link, X-Total-Count and X-Total-Pages headers."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request

from opensure.api.errors import Errors

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
# Beyond this a page number can only point past the end; refusing it keeps OFFSET in range.
MAX_PAGE = 10**9


@dataclass(frozen=True, slots=True)
class Page:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def _positive_int(raw: str | None, default: int) -> int | None:
    if raw is None or raw == "":
        return default
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw) if len(raw) <= 12 else MAX_PAGE + 1
    return value if value >= 1 else None


def parse_page(request: Request, errors: Errors) -> Page:
    """Read page/per_page; invalid values are recorded on ``errors`` (422 invalid_value)."""
    qp = request.query_params
    page = _positive_int(qp.get("page"), 1)
    if page is None or page > MAX_PAGE:
        errors.add("page", "invalid_value", {"greater_than": "0", "must_be": "integer"})
        page = 1
    per_page = _positive_int(qp.get("per_page"), DEFAULT_PER_PAGE)
    if per_page is None:
        errors.add("per_page", "invalid_value", {"greater_than": "0", "must_be": "integer"})
        per_page = DEFAULT_PER_PAGE
    return Page(page, min(per_page, MAX_PER_PAGE))


def headers(request: Request, base_url: str, page: Page, total: int) -> dict[str, str]:
    """Link (absolute, keeping the other query parameters), X-Total-Count, X-Total-Pages."""
    pages = max(1, -(-total // page.per_page))
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    url = base_url + request.url.path

    def link(number: int, rel: str) -> str:
        query = urlencode([*kept, ("page", str(number))])
        return f'<{url}?{query}>; rel="{rel}"'

    links = [link(1, "first")]
    if page.page > 1:
        links.append(link(min(page.page - 1, pages), "prev"))
    if page.page < pages:
        links.append(link(page.page + 1, "next"))
    links.append(link(pages, "last"))
    return {"Link": ", ".join(links), "X-Total-Count": str(total), "X-Total-Pages": str(pages)}


# OpenAPI descriptions of the two parameters every list endpoint takes.
PARAMETERS = [
    {
        "name": "page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "default": 1},
        "description": "Page number; a page past the end is an empty list.",
    },
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "default": DEFAULT_PER_PAGE},
        "description": f"Page size; values over {MAX_PER_PAGE} are treated as {MAX_PER_PAGE}.",
    },
]
