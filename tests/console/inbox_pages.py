"""Reading the inbox's and the response page's HTML as a person sees it: rows, links, text."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from opensure.models import Account as AccountTable
from tests.conftest import Account


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href") or "")
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag in ("td", "th") and self._in_body:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def response_ids(html: str) -> list[int]:
    """The responses an inbox page lists, by the links of their rows."""
    return [
        int(h.rsplit("/", 1)[1])
        for h in parse(html).hrefs
        if h.startswith("/app/responses/") and h.rsplit("/", 1)[1].isdigit()
    ]


def next_link(html: str) -> str | None:
    return next((h for h in parse(html).hrefs if "after=" in h), None)


def export_link(html: str) -> str:
    return next(h for h in parse(html).hrefs if h.startswith("/app/responses.csv"))


async def inbox(client: httpx.AsyncClient, path: str = "/app/responses", **params: str) -> str:
    page = await client.get(path, params=params) if params else await client.get(path)
    assert page.status_code == 200, page.text
    return page.text


async def csv_rows(client: httpx.AsyncClient, path: str) -> list[list[str]]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == "attachment; filename=responses.csv"
    return list(csv.reader(io.StringIO(response.text)))


async def set_link_back(app: FastAPI, account: Account, template: str | None) -> None:
    table = AccountTable.__table__
    async with app.state.engine.begin() as conn:
        await conn.execute(
            update(table).where(table.c.id == account.id).values(link_back_template=template)
        )
