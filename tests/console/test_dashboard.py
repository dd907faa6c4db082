"""GET /app/dashboard on both engines: its figures are those of GET /nps and GET /response_rate
for the same window and surveys (answers and sends one second either side of each edge), the
trend and breakdown tables add up, the sort links sort, bad input is a 422 page."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from opensure.metrics.service import Nps
from tests.conftest import Account
from tests.console.conftest import session_of
from tests.metrics.dashboard_data import DataSet, build
from tests.metrics.data import END, SECOND, START, iso

UTC = dt.UTC


class Page(HTMLParser):
    """The numbers of a dashboard page, read the way the template marks them: ``data-figure``
    elements, and tables (``data-table`` / ``data-breakdown``) of rows with ``data-col`` cells."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.tables: dict[str, list[dict[str, str]]] = {}
        self.sort_links: dict[str, dict[str, str]] = {}
        self.aria_sort: dict[str, dict[str, str]] = {}
        self._figure: str | None = None
        self._table: str | None = None
        self._row: dict[str, str] | None = None
        self._cell: str | None = None
        self._th: str | None = None
        self._text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "data-figure" in a:
            self._figure, self._text = a["data-figure"], []
        if tag == "table":
            name = a.get("data-breakdown") or a.get("data-table")
            if name:
                self._table = name
                suffix = 2
                while self._table in self.tables:
                    self._table, suffix = f"{name}-{suffix}", suffix + 1
                self.tables[self._table] = []
        if (
            self._table
            and tag == "tr"
            and ("data-row" in a or "data-step" in a or "data-rating" in a)
        ):
            self._row = {"key": a.get("data-row") or a.get("data-step") or a.get("data-rating", "")}
        if self._row is not None and tag == "th":
            self._cell, self._text = "name", []
        if self._row is not None and "data-col" in a:
            self._cell, self._text = a["data-col"], []
        if self._table and tag == "th" and "aria-sort" in a:
            self._th = a["aria-sort"]
        if self._table and tag == "a" and "data-sort" in a:
            self.sort_links.setdefault(self._table, {})[a["data-sort"]] = a["href"]
            if self._th:
                self.aria_sort.setdefault(self._table, {})[a["data-sort"]] = self._th
                self._th = None

    def handle_endtag(self, tag: str) -> None:
        text = " ".join("".join(self._text).split())
        if self._figure and tag in ("p", "span", "dd"):
            self.figures[self._figure] = text
            self._figure = None
        if self._cell and tag in ("td", "th"):
            assert self._row is not None
            self._row[self._cell] = text
            self._cell = None
        if tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        if tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def number(self, name: str) -> int | None:
        value = self.figures[name]
        return None if value == "—" else int(value)


async def api(
    account: Account, data: DataSet, start: dt.datetime, end: dt.datetime, surveys: list[int] | None
) -> dict[str, Any]:
    window = {"from_time": iso(start), "to_time": iso(end)}
    nps = await account.get(
        "/nps",
        params={
            **window,
            **({"question_ids[]": [data.nps_questions[s] for s in surveys]} if surveys else {}),
        },
    )
    rate = await account.get(
        "/response_rate", params={**window, **({"survey_ids[]": surveys} if surveys else {})}
    )
    assert nps.status_code == rate.status_code == 200
    return {**nps.json(), **rate.json()}


def figures(page: Page) -> dict[str, Any]:
    return {
        "net_promoter_score": page.number("net_promoter_score"),
        "promoter_count": page.number("promoters"),
        "passive_count": page.number("passives"),
        "detractor_count": page.number("detractors"),
        "response_rate_percent": page.number("response_rate_percent"),
        "sent_count": page.number("sent"),
        "delivered_count": page.number("delivered"),
        "reply_count": page.number("replied"),
    }


async def get_page(client: httpx.AsyncClient, params: Any = None, status: int = 200) -> Page:
    r = await client.get("/app/dashboard", params=params)
    assert r.status_code == status, r.text[:2000]
    assert r.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    return Page(r.text)


async def follow(client: httpx.AsyncClient, href: str) -> Page:
    """Follow a link of the page, as a browser would (the fragment stays in the browser)."""
    r = await client.get(href.split("#")[0])
    assert r.status_code == 200, r.text[:2000]
    return Page(r.text)


def column_sum(rows: list[dict[str, str]], col: str) -> int:
    return sum(int(r[col]) for r in rows)


async def test_figures_equal_nps_and_response_rate_for_the_same_window_and_surveys(
    app: FastAPI, account: Account
) -> None:
    data = await build(app, account)
    windows = [
        (START, END),
        (START + SECOND, END - SECOND),  # the edge seconds fall outside
        (START + dt.timedelta(hours=6, minutes=1), END - dt.timedelta(hours=3)),
    ]
    async with session_of(app, account, "viewer") as client:
        for start, end in windows:
            for surveys in (None, data.surveys, data.surveys[1:]):
                params: dict[str, Any] = {
                    "from_time": iso(start),
                    "to_time": iso(end),
                    "grain": "day",
                }
                if surveys:
                    params["survey_ids[]"] = surveys
                page = await get_page(client, params)
                expected = await api(account, data, start, end, surveys)
                assert figures(page) == expected, (start, end, surveys)
                # The trend tables add up to the cards.
                nps_rows = page.tables["nps-trend"]
                assert len(nps_rows) == (end.date() - start.date()).days + 1
                for col, key in (
                    ("promoters", "promoter_count"),
                    ("passives", "passive_count"),
                    ("detractors", "detractor_count"),
                ):
                    assert column_sum(nps_rows, col) == expected[key]
                rate_rows = page.tables["rate-trend"]
                for col, key in (
                    ("sent", "sent_count"),
                    ("delivered", "delivered_count"),
                    ("replied", "reply_count"),
                ):
                    assert column_sum(rate_rows, col) == expected[key]
                answers = column_sum(page.tables["distribution"], "answers")
                assert (
                    answers
                    == expected["promoter_count"]
                    + expected["passive_count"]
                    + expected["detractor_count"]
                )
                # Every breakdown of staff, team and site adds up to the cards.
                for name in ("staff", "team", "site"):
                    rows = page.tables[name]
                    assert column_sum(rows, "sent") == expected["sent_count"], name
        # Dates from the form: the whole days, as the API's timestamps at their edges.
        page = await get_page(client, {"from_time": "2021-03-01", "to_time": "2021-03-31"})
        assert figures(page) == await api(account, data, START, END, None)


async def test_sort_links_sort_each_table_and_keep_the_filters(
    app: FastAPI, account: Account
) -> None:
    await build(app, account)
    async with session_of(app, account) as client:
        params = {"from_time": "2021-03-01", "to_time": "2021-03-31", "grain": "month"}
        page = await get_page(client, params)
        staff = page.tables["staff"]
        responses = [int(r["responses"]) for r in staff]
        assert responses == sorted(responses, reverse=True)  # the default order
        assert page.aria_sort["staff"] == {"responses": "descending"}
        link = page.sort_links["staff"]["nps"]
        query = urlsplit(link).query
        assert "grain=month" in query and "from_time=2021-03-01" in query
        assert link.endswith("#breakdown-staff")
        by_nps = await follow(client, link)
        scores = [int(r["nps"]) for r in by_nps.tables["staff"] if r["nps"] != "—"]
        assert scores == sorted(scores, reverse=True) and len(scores) > 2
        assert by_nps.aria_sort["staff"] == {"nps": "descending"}
        # The other tables keep their own order; following the same header again reverses.
        assert [r["key"] for r in by_nps.tables["site"]] == [r["key"] for r in page.tables["site"]]
        again = by_nps.sort_links["staff"]["nps"]
        reversed_page = await follow(client, again)
        scores = [int(r["nps"]) for r in reversed_page.tables["staff"] if r["nps"] != "—"]
        assert scores == sorted(scores)
        by_name = await get_page(client, {**params, "sort_team": "name"})
        names = [r["name"].casefold() for r in by_name.tables["team"] if r["key"] != "none"]
        assert names == sorted(names)


async def test_names_are_escaped_and_the_page_has_its_charts_and_tables(
    app: FastAPI, account: Account
) -> None:
    await build(app, account)
    async with session_of(app, account) as client:
        r = await client.get(
            "/app/dashboard", params={"from_time": "2021-03-01", "to_time": "2021-03-31"}
        )
    assert r.status_code == 200
    assert "Ann &lt;b&gt;Admin&lt;/b&gt;" in r.text and "<b>Admin" not in r.text
    assert r.text.count('role="img"') == 3
    assert r.text.count("<svg") == 3
    assert 'style="' not in r.text
    page = Page(r.text)
    # Each band's share of all answers, rounded as the scores are.
    nps = Nps(
        page.number("promoters") or 0, page.number("passives") or 0, page.number("detractors") or 0
    )
    for count in (nps.promoters, nps.passives, nps.detractors):
        assert f'{count}</span> <span class="muted">({nps.percent(count)} %)' in r.text
    assert set(page.tables) >= {
        "nps-trend",
        "rate-trend",
        "distribution",
        "staff",
        "team",
        "site",
        "segment",
    }
    assert [row["key"] for row in page.tables["distribution"]] == [str(i) for i in range(11)]
    assert {row["name"] for row in page.tables["segment"]} == {"web", "phone"}
    assert 'aria-current="page">Dashboard' in r.text


async def test_default_window_is_the_last_30_days(app: FastAPI, account: Account) -> None:
    async with session_of(app, account, "viewer") as client:
        r = await client.get("/app/dashboard")
    assert r.status_code == 200
    today = dt.datetime.now(UTC).date()
    assert f'value="{(today - dt.timedelta(days=30)).isoformat()}"' in r.text
    assert f'id="to_time" name="to_time" type="date" value="{today.isoformat()}"' in r.text
    page = Page(r.text)
    assert page.number("net_promoter_score") is None
    assert page.number("response_rate_percent") == 0
    quick = re.findall(r'href="(/app/dashboard\?[^"]+)">Last 90 days', r.text)
    assert quick and f"from_time={(today - dt.timedelta(days=90)).isoformat()}" in quick[0]


async def test_bad_input_is_the_page_with_a_readable_message(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    async with session_of(app, account) as client:
        for params, words in (
            ({"from_time": "2021-02-30"}, "From: not a date"),
            ({"from_time": "2021-04-01", "to_time": "2021-03-01"}, "after its end"),
            ({"grain": "year"}, "Trend step: choose one of day, week, month"),
            ({"survey_ids[]": other_account.survey_id}, "Surveys: unknown survey ids"),
            ({"survey_ids[]": "abc"}, "Surveys"),
            ({"sort_staff": "<script>"}, "Sort order"),
            (
                {"from_time": "2000-01-01", "to_time": "2021-01-01", "grain": "day"},
                "choose a longer step",
            ),
        ):
            r = await client.get("/app/dashboard", params=params)
            assert r.status_code == 422, params
            assert r.headers["content-type"].startswith("text/html")
            assert words in r.text, (params, r.text[:3000])
            assert 'role="alert"' in r.text
            assert "<script>" not in r.text
            assert 'action="/app/dashboard"' in r.text  # the form, to correct it
            assert "data-figure" not in r.text


async def test_signed_out_visitors_are_sent_to_sign_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    r = await client.get("/app/dashboard?grain=day")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/app/sign-in?next=/app/dashboard")


async def test_another_accounts_data_is_not_shown(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    await build(app, other_account)
    async with session_of(app, account) as client:
        r = await client.get(
            "/app/dashboard", params={"from_time": "2021-03-01", "to_time": "2021-03-31"}
        )
    assert r.status_code == 200
    page = Page(r.text)
    assert page.number("sent") == 0 and page.number("answers") == 0
    assert not {"staff", "team", "site", "segment"} & set(page.tables)
    assert r.text.count("Nothing in this window.") == 3
