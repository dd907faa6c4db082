"""The console's pages and exports over a million requests and a million responses (issue 13).

    .venv/bin/python -m bench.console [--requests 1000000] [--samples 30] [--keep | --database URL]
        [--quick] [--write] [--only TEXT]... [--no-exports] [--explain MS]

Builds one account with bench.scale's data (PostgreSQL, OPENSURE_BENCH_POSTGRES_URL), spread
over 40 staff members in 8 teams, 25 sites and two segments (10 options), with references and
a comment on about a third of the responses; or reuses a database kept by ``--keep``
(``--database URL``, migrated to the newest schema first). Starts a real
`opensure serve --no-dispatcher`, makes a console user with the CLI, signs in over HTTP and:

- measures p50/p99 of every console page (after a warm-up), against its target (200 ms, a
  dashboard 300 ms) and against the plain API list, ``GET /feedback_responses?per_page=50``,
  timed in the same run (the ratio of each page's p50 to it);
- downloads both CSV exports without filters, sampling the server process's RSS every 100 ms:
  growth (peak minus before) against 50 MiB, rows a second, and the line count.

A page the server does not have yet (404) is reported "not available". ``--quick``: 100,000
rows and 10 samples, a few minutes. ``--write`` puts the results in docs/benchmarks.md.
``--only TEXT`` measures the pages whose label holds TEXT; ``--explain MS`` has PostgreSQL log
the plan (EXPLAIN ANALYZE, through auto_explain) of every statement slower than MS to its
server log: with ``--only``, the statements of one slow page.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import html
import os
import re
import secrets
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import asyncpg
import httpx

from bench import scale
from bench.harness import (
    MIB,
    OPENSURE,
    ROOT,
    api_headers,
    iso,
    rss_bytes,
    serving_pids,
    write_marked,
)

PAGE_TARGET_MS = 200.0
DASHBOARD_TARGET_MS = 300.0
EXPORT_TARGET_MIB = 50.0
WARMUP = 3
# A page slower than this on its first request is sampled fewer times (at least MIN_SAMPLES).
PAGE_BUDGET_S = 20.0
MIN_SAMPLES = 5
PASSWORD = "bench-" + secrets.token_hex(8)
DOC = ROOT / "docs/benchmarks.md"
START, END = "<!-- console:begin -->", "<!-- console:end -->"
HEADING = "## Console (issue 13)"


# --- what is measured ----------------------------------------------------------------------------


@dataclass
class Page:
    label: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    target_ms: float = PAGE_TARGET_MS
    # What marks one listed item on the page (counted, to show that a filter found something).
    rows: re.Pattern[str] | None = None
    # Rendered later from a page that is already measured (e.g. the inbox's 20th page).
    resolve: Callable[[httpx.Client], tuple[str, dict[str, Any]] | str] | None = None


@dataclass
class Result:
    label: str
    target_ms: float | None
    status: str  # "ok", "not available", or what went wrong
    p50: float = 0.0
    p99: float = 0.0
    samples: int = 0
    url: str = ""
    rows: int | None = None

    @property
    def met(self) -> bool | None:
        if self.status != "ok" or self.target_ms is None:
            return None
        return self.p50 < self.target_ms


@dataclass
class Ids:
    """Values the filters use: the first staff member, team, site and segment option, and a
    response to a request that has a comment (the response page shows everything)."""

    staff_id: int | None
    team_id: int | None
    site_id: int | None
    option_id: int | None
    response_id: int
    email: str  # of a sent request
    reference: str | None
    first_day: dt.date  # the UTC day of the first request sent or response submitted


async def pick_ids(dataset: scale.Dataset) -> Ids:
    conn = await asyncpg.connect(dataset.url)
    try:
        account = dataset.account_id

        async def first(sql: str) -> Any:
            return await conn.fetchval(sql, account)

        staff_id = await first("SELECT min(id) FROM staff WHERE account_id = $1")
        team_id = await first("SELECT min(id) FROM teams WHERE account_id = $1")
        site_id = await first("SELECT min(id) FROM sites WHERE account_id = $1")
        option_id = await first(
            "SELECT min(o.id) FROM segment_options o JOIN segments s ON s.id = o.segment_id "
            "WHERE s.account_id = $1"
        )
        response_id = await conn.fetchval(
            "SELECT r.id FROM feedback_responses r JOIN answers a ON a.feedback_response_id = r.id "
            "WHERE r.account_id = $1 AND r.feedback_request_id IS NOT NULL AND a.question_id = $2 "
            "ORDER BY r.id LIMIT 1",
            account,
            dataset.comment_question_id,
        ) or await first("SELECT min(id) FROM feedback_responses WHERE account_id = $1")
        request = await conn.fetchrow(
            "SELECT email, reference FROM feedback_requests WHERE account_id = $1 "
            "AND state = 'sent' ORDER BY id DESC LIMIT 1",
            account,
        )
        first_at = await conn.fetchval(
            "SELECT least((SELECT min(sent_at) FROM feedback_requests WHERE account_id = $1), "
            "(SELECT min(submitted_at) FROM feedback_responses WHERE account_id = $1))",
            account,
        )
    finally:
        await conn.close()
    if request is None:
        raise SystemExit("the account has no sent request")
    return Ids(
        staff_id,
        team_id,
        site_id,
        option_id,
        response_id,
        request["email"],
        request["reference"],
        first_at.astimezone(dt.UTC).date(),
    )


def pages(dataset: scale.Dataset, ids: Ids, now: dt.datetime) -> list[Page]:
    def inbox(label: str, **params: Any) -> Page:
        return Page(f"inbox{label}", "/app/responses", params, rows=INBOX_ROW)

    def queue(label: str, **params: Any) -> Page:
        return Page(f"queue{label}", "/app/queue", params, rows=QUEUE_ROW)

    def days_ago(days: int) -> str:
        return iso(now - dt.timedelta(days=days))

    survey = {"survey_ids[]": dataset.survey_id}
    out = [
        inbox(", first page"),
        inbox(": survey", **survey),
        inbox(": date range (30 days, 2 months ago)", from_time=days_ago(90), to_time=days_ago(60)),
        inbox(": band detractor", band="detractor"),
        inbox(": band passive", band="passive"),
        inbox(": score 3", score=3),
        inbox(": staff member", staff_id=ids.staff_id),
        inbox(": team", team_id=ids.team_id),
        inbox(": site", site_id=ids.site_id),
        inbox(": segment option", segment_option_id=ids.option_id),
        inbox(": has comment", has_comment=1),
        inbox(f": text search, common word ({scale.COMMON_WORD!r})", q=scale.COMMON_WORD),
        inbox(f": text search, rare word ({scale.RARE_WORD!r})", q=scale.RARE_WORD),
        inbox(
            ": detractors with a comment, last 30 days",
            from_time=days_ago(30),
            to_time=iso(now),
            band="detractor",
            has_comment=1,
        ),
        Page(
            "inbox, 20th page (cursor)",
            "/app/responses",
            rows=INBOX_ROW,
            resolve=lambda c: nth_page(c, "/app/responses", 20),
        ),
        Page("a response", f"/app/responses/{ids.response_id}"),
        queue(", first page"),
        queue(": pending", state="pending"),
        queue(": sent", state="sent"),
        queue(": not sent", state="not_sent"),
        queue(": survey", **survey),
        queue(": e-mail search", q=ids.email),
    ]
    if ids.reference:
        out.append(queue(": reference search", q=ids.reference))
    # As the dashboard's date pickers send them: whole UTC days, the last one today.
    today = now.date()
    year_ago = today - dt.timedelta(days=365)
    windows = {"30 days": today - dt.timedelta(days=30)}
    if ids.first_day < year_ago:
        windows |= {"12 months": year_ago, f"all time (from {ids.first_day})": ids.first_day}
    else:  # the same days: one window (bench.scale's data spans a year)
        windows[f"12 months = all time (from {ids.first_day})"] = ids.first_day
    for name, start in windows.items():
        for grain in ("day", "week", "month"):
            params = {"from_time": start.isoformat(), "to_time": today.isoformat(), "grain": grain}
            out.append(
                Page(
                    f"dashboard {name}, by {grain}",
                    "/app/dashboard",
                    params,
                    DASHBOARD_TARGET_MS,
                    rows=DASHBOARD_STEP,
                )
            )
    return out


INBOX_ROW = re.compile(r'href="/app/responses/(\d+)"')
QUEUE_ROW = re.compile(r'id="request-(\d+)"')
DASHBOARD_STEP = re.compile(r'data-step="([^"]+)"')  # a step of the trend
NEXT_LINK = re.compile(r'href="([^"]*[?&](?:amp;)?after=[^"]*)"')


def nth_page(client: httpx.Client, path: str, n: int) -> str:
    """The URL of the n-th page, following each page's link to the next (``after=``)."""
    url = path
    for page in range(1, n):
        r = client.get(url)
        r.raise_for_status()
        found = NEXT_LINK.search(r.text)
        if found is None:
            raise LookupError(f"page {page} of {path} links to no next page")
        url = html.unescape(found[1])
        if url.startswith("?"):
            url = path + url
    return url


# --- timing --------------------------------------------------------------------------------------


def timed(client: httpx.Client, url: str, params: dict[str, Any]) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    # httpx replaces a URL's query with ``params`` whenever they are given, even empty.
    r = client.get(url, params=params or None)
    return time.perf_counter() - t0, r


def measure(client: httpx.Client, page: Page, samples: int) -> Result:
    url, params = page.path, page.params
    result = Result(page.label, page.target_ms, "ok")
    try:
        if page.resolve is not None:
            resolved = page.resolve(client)
            url, params = (resolved, {}) if isinstance(resolved, str) else resolved
        elapsed, r = timed(client, url, params)
    except (LookupError, httpx.HTTPStatusError) as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        result.status = "not available" if status == 404 else f"error: {exc}"
        return result
    result.url = str(r.request.url).split(str(client.base_url).rstrip("/"), 1)[-1]
    if r.status_code == 404:
        result.status = "not available"
        return result
    if r.status_code != 200:
        result.status = f"HTTP {r.status_code}"
        if r.status_code in (302, 303, 307):
            result.status += f" to {r.headers.get('location')}"
        return result
    if page.rows is not None:
        result.rows = len(set(page.rows.findall(r.text)))
    runs = samples
    if elapsed * (samples + WARMUP) > PAGE_BUDGET_S:
        runs = max(MIN_SAMPLES, int(PAGE_BUDGET_S / elapsed) - 1)
    for _ in range(WARMUP - 1 if runs == samples else 0):
        timed(client, url, params)
    times = []
    for _ in range(runs):
        elapsed, r = timed(client, url, params)
        if r.status_code != 200:
            result.status = f"HTTP {r.status_code} while sampling"
            return result
        times.append(elapsed)
    result.p50, result.p99 = scale.summary(times)
    result.samples = runs
    return result


# --- signing in ----------------------------------------------------------------------------------


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            a = dict(attrs)
            if a.get("name"):
                self.fields.setdefault(str(a["name"]), a.get("value") or "")


def create_user(dataset: scale.Dataset) -> str:
    email = f"bench-{secrets.token_hex(4)}@example.com"
    done = subprocess.run(
        [
            OPENSURE,
            "users",
            "create",
            "--account",
            str(dataset.account_id),
            "--email",
            email,
            "--role",
            "admin",
            "--password-stdin",
            "--json",
        ],
        env=dataset.cli_env,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"opensure users create: {done.stderr.strip()}")
    return email


def sign_in(client: httpx.Client, email: str) -> None:
    form = client.get("/app/sign-in")
    form.raise_for_status()
    parser = _Inputs()
    parser.feed(form.text)
    fields = {**parser.fields, "email": email, "password": PASSWORD}
    r = client.post("/app/sign-in", data=fields)
    if r.status_code != 303 or "opensure_session" not in client.cookies:
        raise RuntimeError(f"sign-in failed: {r.status_code} {r.text[:300]}")


# --- exports -------------------------------------------------------------------------------------


@dataclass
class Export:
    label: str
    status: str
    lines: int = 0
    seconds: float = 0.0
    before_mib: float = 0.0
    peak_mib: float = 0.0
    after_mib: float = 0.0
    expected_lines: int = 0

    @property
    def growth(self) -> float:
        return self.peak_mib - self.before_mib


class RssSampler:
    """The peak RSS of some processes, read every 100 ms on a thread."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> int:
        return sum(rss_bytes(p) or 0 for p in self.pids)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self.now())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())
        return self.peak


def export(client: httpx.Client, label: str, path: str, pids: list[int], expected: int) -> Export:
    result = Export(label, "ok", expected_lines=expected)
    time.sleep(1)  # the server settles after the sign-in
    before = sum(rss_bytes(p) or 0 for p in pids)
    sampler = RssSampler(pids)
    t0 = time.perf_counter()
    try:
        with client.stream("GET", path, timeout=600) as r:
            if r.status_code != 200:
                sampler.stop()
                result.status = "not available" if r.status_code == 404 else f"HTTP {r.status_code}"
                return result
            for chunk in r.iter_bytes():
                result.lines += chunk.count(b"\n")
    finally:
        result.seconds = time.perf_counter() - t0
        peak = sampler.stop()
    time.sleep(1)
    result.before_mib = before / MIB
    result.peak_mib = peak / MIB
    result.after_mib = sum(rss_bytes(p) or 0 for p in pids) / MIB
    return result


# --- report --------------------------------------------------------------------------------------


def verdict(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: ""}[met]


def page_table(results: list[Result], baseline: Result) -> list[str]:
    out = [
        "| page | p50 | p99 | target (p50) | met? | ÷ API list p50 | rows (trend steps) shown |",
        "|---|---:|---:|---:|---|---:|---:|",
        f"| baseline: `GET /feedback_responses?per_page=50` (API, first page) | "
        f"{baseline.p50:.1f} ms | {baseline.p99:.1f} ms | | | 1.00 | 50 |",
    ]
    for r in results:
        target = f"{r.target_ms:.0f} ms" if r.target_ms else ""
        if r.status != "ok":
            out.append(f"| {r.label} | {r.status} | | {target} | | | |")
            continue
        ratio = f"{r.p50 / baseline.p50:.2f}" if baseline.p50 else ""
        fewer = f" ({r.samples} samples)" if r.samples and r.samples < baseline.samples else ""
        out.append(
            f"| {r.label}{fewer} | {r.p50:.1f} ms | {r.p99:.1f} ms | {target} | "
            f"{verdict(r.met)} | {ratio} | {'' if r.rows is None else r.rows} |"
        )
    return out


def export_table(exports: list[Export]) -> list[str]:
    out = [
        "| export | RSS before | peak | growth | 1 s after | target | met? | lines | rows/s "
        "| time |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for e in exports:
        if e.status != "ok":
            out.append(f"| {e.label} | {e.status} | | | | {EXPORT_TARGET_MIB:.0f} MiB | | | | |")
            continue
        lines_ok = "" if e.lines == e.expected_lines else f" (expected {e.expected_lines:,})"
        rate = (e.lines - 1) / e.seconds if e.seconds else 0
        out.append(
            f"| {e.label} | {e.before_mib:.1f} MiB | {e.peak_mib:.1f} MiB | "
            f"{e.growth:+.2f} MiB | {e.after_mib:.1f} MiB | {EXPORT_TARGET_MIB:.0f} MiB | "
            f"{verdict(e.growth < EXPORT_TARGET_MIB)} | {e.lines:,}{lines_ok} | "
            f"{rate:,.0f} | {e.seconds:.1f} s |"
        )
    return out


def fill(text: str) -> str:
    return textwrap.fill(text, 100, break_long_words=False, break_on_hyphens=False)


def report(
    args: argparse.Namespace,
    baseline: Result,
    results: list[Result],
    exports: list[Export],
    commit: str,
) -> str:
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = ".venv/bin/python -m bench.console" + (
        " --quick" if args.quick else f" --requests {args.requests} --samples {args.samples}"
    )
    missed = [r for r in results if r.met is False]
    absent = [r.label for r in results if r.status == "not available"]
    failed = [f"{r.label} ({r.status})" for r in results if r.status not in ("ok", "not available")]
    lines = [
        "```sh",
        f"OPENSURE_BENCH_POSTGRES_URL=postgresql://… {command}",
        "```",
        "",
        fill(
            f"One account with {args.requests:,} feedback requests and {args.requests:,} "
            "responses (bench.scale's data: a year of requests, 95% sent, 70% of the responses "
            "to a request), spread over 40 staff members in 8 teams, 25 sites and two segments "
            "with 10 options; a third of the responses have a comment. PostgreSQL, one "
            "`opensure serve --no-dispatcher` process (no access log), a console user signed in "
            "over HTTP, one request at a time from one httpx client. The machine: 2 cores, "
            "shared by the server, PostgreSQL and the benchmark (load average "
            f"{args.loadavg} when the run began). {args.samples} samples a page after {WARMUP} "
            "warm-up requests (fewer where a page takes over "
            f"{PAGE_BUDGET_S / (args.samples + WARMUP) * 1000:.0f} ms). The yardstick is the "
            "target; the baseline is the plain API list, `GET /feedback_responses?per_page=50`, "
            f"timed in the same run. Run {date}, OpenSure {commit}."
        ),
        "",
        *page_table(results, baseline),
        "",
        fill(
            "Exports without filters, streamed to the benchmark, each from a new server process "
            "that has only signed the user in (so no memory the pages took hides the export's); "
            "its RSS (`VmRSS`) read every 100 ms during the download, growth = peak minus before:"
        ),
        "",
        *export_table(exports),
        "",
    ]
    measured = [r for r in results if r.status == "ok"]
    if missed:
        lines.append(
            fill(
                f"**{len(missed)} of the {len(measured)} pages measured miss their target:** "
                + ", ".join(f"{r.label} ({r.p50:.0f} ms)" for r in missed)
                + "."
            )
        )
    elif measured:
        lines.append(f"All {len(measured)} pages measured meet their target.")
    if absent:
        lines += ["", f"Not available (404) at the time of the run: {len(absent)} pages."]
    if failed:
        lines += ["", "Failed: " + "; ".join(failed) + "."]
    return "\n".join(lines)


# --- plans of slow statements ------------------------------------------------------------------

EXPLAIN_SETTINGS = (
    "session_preload_libraries",
    "auto_explain.log_min_duration",
    "auto_explain.log_analyze",
    "auto_explain.log_buffers",
)


async def explain_slow(url: str, ms: int | None) -> None:
    """With ``ms``: PostgreSQL's auto_explain on for new connections to this database, so that
    the plan (EXPLAIN ANALYZE) of every statement slower than ``ms`` goes to the server's log;
    without: off again."""
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(url)
    try:
        if ms is None:
            for setting in EXPLAIN_SETTINGS:
                await conn.execute(f'ALTER DATABASE "{name}" RESET {setting}')
            return
        values = ("'auto_explain'", f"'{ms}ms'", "on", "on")
        for setting, value in zip(EXPLAIN_SETTINGS, values, strict=True):
            await conn.execute(f'ALTER DATABASE "{name}" SET {setting} = {value}')
    finally:
        await conn.close()


# --- the run -------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    if args.database:
        dataset = await scale.reopen(args.database)
    else:
        dataset = await scale.build(args.requests, attributed=True, prefix="bench_console")
        print(f"database {dataset.url}", file=sys.stderr, flush=True)
    conn = await asyncpg.connect(dataset.url)
    try:
        n_requests = await conn.fetchval(
            "SELECT count(*) FROM feedback_requests WHERE account_id = $1", dataset.account_id
        )
        n_responses = await conn.fetchval(
            "SELECT count(*) FROM feedback_responses WHERE account_id = $1", dataset.account_id
        )
    finally:
        await conn.close()
    args.requests = n_requests
    ids = await pick_ids(dataset)
    email = create_user(dataset)
    server = None
    if args.explain is not None:
        await explain_slow(dataset.url, args.explain)
    try:
        server = scale.Server(dataset)
        pids = serving_pids(server.proc.pid, server.port)
        print(f"server {server.base_url}, pid(s) {pids}", file=sys.stderr, flush=True)
        with httpx.Client(
            base_url=server.base_url, headers=api_headers(dataset.token), timeout=120
        ) as api:
            baseline = measure(
                api, Page("baseline", "/feedback_responses", {"per_page": 50}), args.samples
            )
        print(f"baseline: p50 {baseline.p50:.1f} ms", file=sys.stderr, flush=True)
        results = []
        with httpx.Client(
            base_url=server.base_url, headers={"User-Agent": "bench"}, timeout=120
        ) as browser:
            sign_in(browser, email)
            for page in pages(dataset, ids, dt.datetime.now(dt.UTC)):
                if args.only and not any(word in page.label for word in args.only):
                    continue
                result = measure(browser, page, args.samples)
                results.append(result)
                shown = (
                    f"p50 {result.p50:.1f} ms p99 {result.p99:.1f} ms"
                    if result.status == "ok"
                    else result.status
                )
                print(
                    f"{dt.datetime.now(dt.UTC):%H:%M:%S} {result.label}: {shown}  {result.url}",
                    file=sys.stderr,
                    flush=True,
                )
        exports = []
        if not args.no_exports:
            for label, path, expected in (
                ("`GET /app/responses.csv`", "/app/responses.csv", n_responses + 1),
                ("`GET /app/feedback_requests.csv`", "/app/feedback_requests.csv", n_requests + 1),
            ):
                # Each on a new server, signed in and nothing else: its growth is all the
                # export's, none of it hidden in memory the pages had already taken.
                server.stop()
                server = scale.Server(dataset)
                pids = serving_pids(server.proc.pid, server.port)
                with httpx.Client(
                    base_url=server.base_url, headers={"User-Agent": "bench"}, timeout=120
                ) as browser:
                    sign_in(browser, email)
                    e = export(browser, label, path, pids, expected)
                exports.append(e)
                print(f"{label}: {e}", file=sys.stderr, flush=True)
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        text = report(args, baseline, results, exports, commit)
        print(text)
        if args.write:
            write_marked(DOC, START, END, HEADING, text)
            print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    finally:
        if server is not None:
            server.stop()
        if args.explain is not None:
            await explain_slow(dataset.url, None)
        await scale.release(dataset, args)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=None, help="default 1,000,000")
    parser.add_argument("--samples", type=int, default=None, help="default 30")
    parser.add_argument("--quick", action="store_true", help="100,000 rows, 10 samples")
    scale.dataset_arguments(parser)
    parser.add_argument(
        "--explain",
        type=int,
        metavar="MS",
        help="Log the plan (EXPLAIN ANALYZE) of every statement slower than MS to PostgreSQL's "
        "server log, through auto_explain (a diagnosis run: it slows every statement).",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="Measure only the pages whose label holds TEXT (repeatable), e.g. 'dashboard'.",
    )
    parser.add_argument("--no-exports", action="store_true", help="Measure the pages only.")
    parser.add_argument("--write", action="store_true", help=f"Write the results into {DOC.name}.")
    args = parser.parse_args()
    args.requests = args.requests or (100_000 if args.quick else 1_000_000)
    args.loadavg = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    args.samples = args.samples or (10 if args.quick else 30)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
