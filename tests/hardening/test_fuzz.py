"""Schemathesis against a real ``opensure serve``, driven by the live ``/openapi.json``.

Every operation of the API reference is fuzzed with valid credentials and the three required
headers. The checks: no 5xx, and every response's status code, content type and body are the
ones the reference documents. The account has real surveys, requests (pending and sent),
responses (emailed and anonymous) and sites, and their ids are offered to the fuzzer so that
it reaches past the 404s and 422s into the code that serves real objects.

CI runs a bounded, derandomized run with a fixed seed. A longer local run (see docs/api.md):

    OPENSURE_FUZZ_EXAMPLES=300 OPENSURE_FUZZ_SEED=7 .venv/bin/pytest tests/hardening/test_fuzz.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import mailbox
import os
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from opensure.api.negotiation import is_exempt
from tests.dispatch.support import answer, parse, survey_link
from tests.fixtures.databases import fresh_database
from tests.fixtures.server import (
    MEDIA_TYPE,
    ApiAccount,
    OpenSureServer,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.e2e

# Generated cases per operation and phase; the seed makes a run repeatable.
EXAMPLES = int(os.environ.get("OPENSURE_FUZZ_EXAMPLES", "20"))
SEED = int(os.environ.get("OPENSURE_FUZZ_SEED", "20260601"))
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
SCHEMATHESIS = str(Path(sys.executable).with_name("st"))
# Well above what the default run needs, so a hang fails instead of stalling CI.
RUN_TIMEOUT = 120.0 + EXAMPLES * 6.0
DEADLINE = 15.0


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def toml_value(value: Any) -> str:
    """A TOML literal for a string, number or list of them (TOML strings are JSON strings)."""
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Known:
    """Ids and codes of real objects of the fuzzing account, offered to the fuzzer."""

    surveys: list[int] = field(default_factory=list)
    templates: list[int] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    items: list[int] = field(default_factory=list)
    responses: list[int] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=list)


async def wait_for_sent(api: httpx.AsyncClient, request_id: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        r = await api.get(f"/feedback_requests/{request_id}")
        assert r.status_code == 200, r.text
        if r.json()["state"] == "sent":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"request {request_id} was not sent within {DEADLINE} s")


def emailed_link(server: OpenSureServer, address: str) -> str:
    box = mailbox.Maildir(server.outbox, create=False)
    for key in box.iterkeys():
        message = parse(box.get_bytes(key))
        if address in str(message["To"]):
            return survey_link(message)
    raise AssertionError(f"no email to {address} in {server.outbox}")


async def seed(server: OpenSureServer, account: ApiAccount) -> Known:
    """Real objects of every kind the API serves, made the way clients and customers make them."""
    questions = account.survey["questions"]
    nps, rating, _text, radio = (int(q["id"]) for q in questions)
    now = dt.datetime.now(dt.UTC)
    known = Known(
        surveys=[account.survey_id],
        templates=[int(account.template["id"])],
        times=[iso(now + dt.timedelta(days=d)) for d in (1, 30)] + [iso(now)[:10] + "T23:59Z"],
    )
    answers: dict[int, str | list[str]] = {nps: "9", rating: "4", radio: "Yes"}
    async with (
        server.client(headers=account.headers) as api,
        server.client() as browser,
    ):
        # A request due now: the embedded dispatcher emails it, the customer answers.
        r = await api.post(
            "/feedback_requests",
            json={
                "email": "sent@example.com",
                "first_name": "Kate",
                "send_at": iso(now),
                "survey_id": account.survey_id,
                "data": [{"key": "order", "value": "1041"}],
            },
        )
        assert r.status_code == 201, r.text
        sent_id = r.json()["id"]
        known.requests.append(sent_id)
        await wait_for_sent(api, sent_id)
        r = await answer(browser, emailed_link(server, "sent@example.com"), answers)
        assert r.status_code == 303, r.text
        # An anonymous answer through the survey's public link.
        r = await answer(
            browser,
            f"/s/{account.survey['code']}",
            answers,
            name="Anon Ymous",
            email="anon@example.com",
        )
        assert r.status_code == 303, r.text
        r = await api.get("/feedback_responses")
        assert r.status_code == 200, r.text
        known.responses = [int(x["id"]) for x in r.json()]
        assert len(known.responses) == 2, r.text

        # Pending requests with data and query params, for GET, PATCH and DELETE by id.
        for i in range(3):
            r = await api.post(
                "/feedback_requests",
                json={
                    "email": f"pending{i}@example.com",
                    "send_at": known.times[1],
                    "survey_id": account.survey_id,
                    "email_template_id": known.templates[0],
                    "reference": f"#{i}",
                    "data": [{"key": "staff_code", "value": "luke"}],
                    "query_params": [{"key": "utm_source", "value": "fuzz"}],
                },
            )
            assert r.status_code == 201, r.text
            created = r.json()
            known.requests.append(int(created["id"]))
            known.items.extend(int(x["id"]) for x in created["data"] + created["query_params"])

        for code, country in (("hq", "GB"), ("north", None)):
            site = {"site_code": code, "name": code.title(), "city": "Newcastle"}
            if country:
                site |= {"region": "Tyne and Wear", "country_code": country}
            r = await api.post("/sites", json=site)
            assert r.status_code == 201, r.text
            known.sites.append(code)
        # A renamed site: its old code redirects (301 for GET, 307 for the other verbs).
        r = await api.post("/sites", json={"site_code": "old", "name": "Old Town"})
        assert r.status_code == 201, r.text
        r = await api.patch("/sites/old", json={"site_code": "renamed"})
        assert r.status_code == 200, r.text
        known.sites += ["old", "renamed"]
    return known


def config(account: ApiAccount, known: Known) -> str:
    """schemathesis.toml: credentials, checks, budget, and the real ids to try."""
    dictionaries = {
        "surveys": known.surveys,
        "templates": known.templates,
        "requests": [str(i) for i in known.requests],
        "items": known.items,
        "responses": [str(i) for i in known.responses],
        "sites": known.sites,
        "times": known.times,
    }
    lines = [
        # An explicit seed is used in deterministic mode too ("not used" in st's summary aside).
        f"seed = {SEED}",
        "workers = 1",
        # Redirects are answers to check (a renamed site's old code), not to follow.
        "max-redirects = 0",
        "",
        "[headers]",
        f'"User-Agent" = {toml_value("OpenSure fuzz test")}',
        f"Accept = {toml_value(MEDIA_TYPE)}",
        f"Authorization = {toml_value(f'Token token={account.token}')}",
        "",
        "[generation]",
        f"max-examples = {EXAMPLES}",
        "deterministic = true",
        "",
        "[checks]",
        "enabled = false",
        *(f"{check}.enabled = true" for check in CHECKS),
        "",
    ]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {toml_value(values)}", ""]

    def bind(dictionary: str, probability: float = 0.5) -> str:
        return f'{{ dictionary = "{dictionary}", probability = {probability} }}'

    lines += [
        "[parameters]",
        f'"body.survey_id" = {bind("surveys")}',
        f'"body.email_template_id" = {bind("templates", 0.3)}',
        f'"body.send_at" = {bind("times")}',
        f'"body.data[*].id" = {bind("items")}',
        f'"body.query_params[*].id" = {bind("items")}',
        f'"query.from_time" = {bind("times", 0.3)}',
        f'"query.to_time" = {bind("times", 0.3)}',
        f'"query.updated_since" = {bind("times", 0.3)}',
        f'"path.site_code" = {bind("sites")}',
        "",
        "[[operations]]",
        'include-path-regex = "^/feedback_requests/"',
        f'parameters = {{ "path.id" = {bind("requests", 0.7)} }}',
        "",
        "[[operations]]",
        'include-path-regex = "^/feedback_responses/"',
        f'parameters = {{ "path.id" = {bind("responses", 0.7)} }}',
        "",
    ]
    return "\n".join(lines)


def api_operations(spec: dict[str, Any]) -> set[str]:
    """``METHOD /path`` of every operation of the versioned API in the reference."""
    return {
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        if not is_exempt(path)
        for method in operations
    }


STATEFUL = "Stateful tests"  # the JUnit test case of the stateful phase


@dataclass
class Outcome:
    returncode: int
    output: str
    tested: dict[str, str]  # operation → "passed" or what went wrong
    workdir: Path

    def describe(self) -> str:
        tail = self.output if len(self.output) < 20_000 else "…" + self.output[-20_000:]
        return f"st run exited {self.returncode} (reports in {self.workdir})\n{tail}"


def junit_results(path: Path) -> dict[str, str]:
    results: dict[str, str] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        problems = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        results[case.get("name", "")] = ", ".join(problems) or "passed"
    return results


async def run_schemathesis(server: OpenSureServer, workdir: Path, toml: str) -> Outcome:
    config_file = workdir / "schemathesis.toml"
    config_file.write_text(toml, encoding="utf-8")
    junit = workdir / "schemathesis-junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEMATHESIS_", "OPENSURE_"))}
    proc = await asyncio.create_subprocess_exec(
        SCHEMATHESIS,
        "--config-file",
        str(config_file),
        "--no-color",
        "run",
        f"{server.base_url}/openapi.json",
        "--report",
        "junit,har",
        "--report-junit-path",
        str(junit),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=workdir,
        env=env,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"st run did not finish in {RUN_TIMEOUT} s") from None
    assert proc.returncode is not None
    output = out.decode(errors="replace")
    tested = junit_results(junit) if junit.exists() else {}
    return Outcome(proc.returncode, output, tested, workdir)


@pytest.fixture(params=["sqlite", "postgresql"])
async def fuzz_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[OpenSureServer, Path]]:
    """``opensure serve`` (API and dispatcher) on a fresh database of each backend. No rate
    limit: a long local run sends far more than 5,000 requests an hour."""
    databases = fresh_database(request.param, tmp_path)
    db_url = await databases.__anext__()
    try:
        server = await start_server(
            request.param,
            db_url,
            tmp_path,
            ["--no-demo"],
            env={"OPENSURE_RATE_LIMIT": "0", "OPENSURE_DISPATCH_INTERVAL": "0.2"},
        )
        try:
            yield server, tmp_path
        finally:
            stop_server(server)
    finally:
        await databases.aclose()


async def test_every_operation_holds_to_the_api_reference(
    fuzz_server: tuple[OpenSureServer, Path],
) -> None:
    server, workdir = fuzz_server
    account = await server.create_account()
    known = await seed(server, account)
    async with server.client() as client:
        r = await client.get("/openapi.json")
        assert r.status_code == 200, r.text
        expected = api_operations(r.json())
    assert len(expected) == 15, sorted(expected)

    outcome = await run_schemathesis(server, workdir, config(account, known))

    assert outcome.returncode == 0, outcome.describe()
    assert set(outcome.tested) - {STATEFUL} == expected, outcome.describe()
    assert all(result == "passed" for result in outcome.tested.values()), outcome.describe()
    assert f"Tested: {len(expected)}" in outcome.output, outcome.describe()
    assert "Traceback" not in server.stderr(), server.stderr()
