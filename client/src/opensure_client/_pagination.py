"""Lists: a Page is one answer, a Pager walks every page by following ``Link: rel="next"``.

::

    pager = client.sites.list(per_page=100)    # the first page is fetched here
    pager.total_count, pager.total_pages        # from X-Total-Count / X-Total-Pages
    for site in pager: ...                      # every item, across pages
    for page in pager.pages(): page.items      # or page by page

The async pager is the same, awaited (``pager = await client.sites.list()``) or iterated
directly (``async for site in client.sites.list()``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any, Generic, TypeVar

from opensure_client._base import Call, Reply, parse_links
from opensure_client._errors import UnexpectedResponseError

__all__ = ["AsyncPager", "Page", "Pager"]

T = TypeVar("T")


def next_url(reply: Reply) -> str | None:
    """The next page's URL: ``Link: rel="next"``, or page+1 from X-Total-Pages without a Link."""
    link_header = reply.headers.get("Link")
    if link_header is not None:
        target = parse_links(link_header).get("next")
        if target is None:
            return None
        absolute = str(reply.url.join(target))
        return None if absolute == str(reply.url) else absolute
    total_pages = _int_header(reply, "X-Total-Pages")
    raw_page = reply.url.params.get("page", "1")
    current = int(raw_page) if raw_page.isdigit() else 1
    if total_pages is None or current >= total_pages:
        return None
    return str(reply.url.copy_set_param("page", str(current + 1)))


def _int_header(reply: Reply, name: str) -> int | None:
    value = reply.headers.get(name, "").strip()
    return int(value) if value.isdigit() else None


class Page(Generic[T]):
    """One page of a list: its items, the totals, and the links to other pages."""

    def __init__(self, items: list[T], reply: Reply) -> None:
        self.items = items
        self.url = str(reply.url)
        self.request_id = reply.request_id
        self.links = parse_links(reply.headers.get("Link"))
        self.next_url = next_url(reply)
        self._total_count = _int_header(reply, "X-Total-Count")
        self._total_pages = _int_header(reply, "X-Total-Pages")

    @property
    def total_count(self) -> int:
        """How many items the whole list has (X-Total-Count)."""
        return self._required(self._total_count, "X-Total-Count")

    @property
    def total_pages(self) -> int:
        """How many pages the whole list has at this page size (X-Total-Pages)."""
        return self._required(self._total_pages, "X-Total-Pages")

    @property
    def has_next(self) -> bool:
        return self.next_url is not None

    def _required(self, value: int | None, header: str) -> int:
        if value is None:
            raise UnexpectedResponseError(
                f"the server sent no {header} header with {self.url}", request_id=self.request_id
            )
        return value

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"<Page {self.url} items={len(self.items)} next={self.next_url is not None}>"


class Pager(Generic[T]):
    """Every item of a list, fetched page by page as iteration reaches it."""

    def __init__(self, first: Page[T], fetch: Callable[[Call], Page[T]]) -> None:
        self._first = first
        self._fetch = fetch

    @property
    def first_page(self) -> Page[T]:
        return self._first

    @property
    def total_count(self) -> int:
        return self._first.total_count

    @property
    def total_pages(self) -> int:
        return self._first.total_pages

    def pages(self) -> Iterator[Page[T]]:
        """Each page in turn, starting with the first (already fetched) one."""
        page = self._first
        yield page
        while page.next_url is not None:
            page = self._fetch(Call("GET", page.next_url))
            yield page

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items

    def __repr__(self) -> str:
        return f"<Pager {self._first.url}>"


class AsyncPager(Generic[T]):
    """The async Pager: ``await`` it to fetch the first page, or ``async for`` over it."""

    def __init__(self, call: Call, fetch: Callable[[Call], Awaitable[Page[T]]]) -> None:
        self._call = call
        self._fetch = fetch
        self._first: Page[T] | None = None

    async def _load(self) -> AsyncPager[T]:
        if self._first is None:
            self._first = await self._fetch(self._call)
        return self

    def __await__(self) -> Generator[Any, None, AsyncPager[T]]:
        return self._load().__await__()

    @property
    def first_page(self) -> Page[T]:
        if self._first is None:
            raise RuntimeError("await the pager first: pager = await client.<resource>.list()")
        return self._first

    @property
    def total_count(self) -> int:
        return self.first_page.total_count

    @property
    def total_pages(self) -> int:
        return self.first_page.total_pages

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Each page in turn, starting with the first."""
        await self._load()
        page = self.first_page
        yield page
        while page.next_url is not None:
            page = await self._fetch(Call("GET", page.next_url))
            yield page

    async def _items(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    def __repr__(self) -> str:
        return f"<AsyncPager {self._call.method} {self._call.url}>"
