"""Every `opensure` admin command, run as a subprocess the way an operator runs it (SPEC §7).

Each `opensure` process spends about a second importing, so the commands are run once, against
one fresh SQLite file, by the module fixture ``run`` (independent ones side by side), and each
test checks what its command printed and what it did. What the commands create is then used
through the API (in-process) to show that it really works. The account and survey import also
run on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import shlex
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from opensure import models  # noqa: F401  (registers every table on Base.metadata)
from opensure.app import create_app
from opensure.config import Settings
from opensure.db import Base
from opensure.models.feedback import kept_outside_metadata
from tests.fixtures.databases import fresh_database
from tests.fixtures.server import MEDIA_TYPE, CliResult, run_cli

BASE = "http://testserver"
TOKEN = re.compile(r"\bos_[0-9a-f]{16,}\b")

README_SURVEY = """\
name: Support satisfaction
questions:
  - {type: rating, text: "How likely are you to recommend us to a friend?", nps: true}
  - {type: rating, text: "How satisfied were you?", scale: [1, 5]}
  - {type: text, text: "Anything else you'd like to tell us?", required: false}
  - {type: radio, text: "Was your issue solved?", options: ["Yes", "No"]}
  - {type: dropdown, text: "Which product?", options: ["App", "Web"]}
  - {type: checkbox, text: "What did you like?", options: ["Speed", "Friendliness", "Price"]}
"""
README_TYPES = ["rating", "rating", "text", "radio", "dropdown", "checkbox"]
JSON_SURVEY = {
    "name": "Delivery",
    "questions": [
        {"type": "rating", "text": "Would you recommend us?", "nps": True},
        {"type": "text", "text": "Why?"},
    ],
}
TEMPLATE_BODY = "Hi {{ first_name }}, how did we do? {{ survey_link }}\n"

BAD_SURVEYS: dict[str, tuple[str, str, list[str]]] = {
    # case: (file name, content, what stderr must name)
    "unknown type, missing options, bad scale": (
        "bad.yaml",
        "name: Bad survey\nquestions:\n"
        "  - {type: rating, text: 'Recommend us?', nps: true}\n"
        "  - {type: slider, text: 'How fast?'}\n"
        "  - {type: text, text: 'Anything else?', required: false}\n"
        "  - {type: radio, text: 'Solved?'}\n"
        "  - {type: rating, text: 'Satisfied?', scale: [5, 1]}\n",
        [
            "questions[1].type",
            "must be one of",
            "questions[3].options",
            "required",
            "questions[4].scale",
        ],
    ),
    "bad scale in JSON": (
        "bad-scale.json",
        json.dumps(
            {
                "name": "Bad scale",
                "questions": [
                    {"type": "text", "text": "Anything else?"},
                    {"type": "rating", "text": "Satisfied?", "scale": [1]},
                ],
            }
        ),
        ["questions[1].scale"],
    ),
    "yaml syntax": (
        "syntax.yaml",
        "name: Broken\nquestions: [\n  - {type: rating, text: 'Recommend?'\n",
        ["syntax.yaml", "line 3"],
    ),
}

BAD_TEMPLATES: dict[str, tuple[str, str, list[str]]] = {
    # case: (subject, body, the lines stderr must hold: one per broken part)
    "broken subject": (
        "Hi {{",
        TEMPLATE_BODY,
        ["opensure: template not saved: subject line 1: unexpected 'end of template'"],
    ),
    "broken body on line 3": (
        "How did we do?",
        "Hi {{ first_name }},\n\nPlease tell us: {{ survey_link }\n",
        ["opensure: template not saved: body line 3: unexpected '}'"],
    ),
    "unknown filter": (
        "How did we do?",
        "Hi {{ first_name|shout }},\n{{ survey_link }}\n",
        ["opensure: template not saved: body line 1: No filter named 'shout'."],
    ),
    "include, which has nothing to load": (
        "How did we do?",
        "Hi,\n\n{{ survey_link }}\n{% include 'footer.txt' %}\n",
        ["opensure: template not saved: body line 4: no loader for this environment specified"],
    ),
    "what the sandbox refuses": (
        "How did we do?",
        "Hi,\n{{ ''.__class__.__mro__ }}\n",
        [
            "opensure: template not saved: body line 2: "
            "access to attribute '__class__' of 'str' object is unsafe."
        ],
    ),
    "both parts": (
        "{% if first_name %}Hi",
        "{{ survey_link }}\n{% endfor %}\n",
        [
            "opensure: template not saved: subject line 1: Unexpected end of template. Jinja "
            "was looking for the following tags: 'elif' or 'else' or 'endif'. The innermost "
            "block that needs to be closed is 'if'.",
            "opensure: template not saved: body line 2: Encountered unknown tag 'endfor'.",
        ],
    ),
}

BAD_DATABASE_URL = "mysql://user@127.0.0.1/opensure"
BAD_ARGS: dict[str, tuple[str, ...]] = {
    "missing argument": ("accounts", "create"),
    "unknown command": ("nope",),
    "non-integer --min-interval-days": ("accounts", "create", "X", "--min-interval-days", "abc"),
    "account name taken": ("accounts", "create", "Acme"),
    "unknown account": ("tokens", "create", "--account", "nope"),
    "survey file missing": ("surveys", "import", "--account", "Acme", "/nonexistent/s.yaml"),
    "unknown token": ("tokens", "revoke", "os_0000000000000000000000000000000000000000"),
    "unsupported database URL": ("migrate",),
}


@dataclass
class CliDb:
    """A database and a working directory to run `opensure` in."""

    url: str
    workdir: Path

    async def cli(self, *args: str, db_url: str | None = None) -> CliResult:
        return await run_cli(*args, db_url=db_url or self.url, cwd=self.workdir)

    async def cli_json(self, *args: str) -> Any:
        return (await self.cli(*args, "--json")).json()

    def write(self, name: str, content: str) -> Path:
        path = self.workdir / name
        path.write_text(content, encoding="utf-8")
        return path

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        assert self.url.startswith("sqlite:///")
        with contextlib.closing(sqlite3.connect(self.url.removeprefix("sqlite:///"))) as db:
            return db.execute(sql, params).fetchall()


@dataclass
class Run:
    """What each command printed, by the name the tests use for it."""

    db: CliDb
    results: dict[str, CliResult] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def __getitem__(self, name: str) -> CliResult:
        return self.results[name]

    def json(self, name: str) -> Any:
        return self.results[name].json()


@pytest.fixture(scope="module")
async def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Every admin command against one fresh SQLite file: first `migrate` on the empty file,
    then `accounts create` for "Acme", then everything that only needs Acme, side by side."""
    workdir = tmp_path_factory.mktemp("cli")
    db = CliDb(f"sqlite:///{workdir / 'opensure.db'}", workdir)
    out = Run(db)
    files = out.files
    files["yaml"] = db.write("survey.yaml", README_SURVEY)
    files["json"] = db.write("survey.json", json.dumps(JSON_SURVEY))
    files["body"] = db.write("body.txt", TEMPLATE_BODY)
    for case, (name, content, _) in BAD_SURVEYS.items():
        files[case] = db.write(name, content)

    out.results["migrate"] = await db.cli("migrate")
    out.results["accounts create --json"] = await db.cli(
        "accounts", "create", "Acme", "--min-interval-days", "7", "--json"
    )
    acme_id = str(out.json("accounts create --json")["id"])
    yaml, body, json_file = (shlex.quote(str(files[k])) for k in ("yaml", "body", "json"))
    template = f"--account Acme --subject 'How did we do?' --body-file {body}"
    lines = {
        "migrate again": "migrate",
        "accounts create": "accounts create Globex",
        "tokens create --json": "tokens create --account Acme --json",
        "tokens create": f"tokens create --account {acme_id}",
        "surveys import yaml": f"surveys import --account Acme {yaml} --json",
        "surveys import json": f"surveys import --account {acme_id} {json_file} --json",
        "surveys import": f"surveys import --account Acme {yaml}",
        "templates create --json": f"templates create --name Follow-up {template} --json",
        "templates create": f"templates create --name Second {template}",
        "staff create --json": "staff create --account Acme --code luke --name 'Luke S' "
        "--team Support --json",
        "staff create --json, same team": f"staff create --account {acme_id} --code leia "
        "--name 'Leia O' --team Support --json",
        "staff create": "staff create --account Acme --code han --name Han",
        "segments create --json": "segments create --account Acme --key region --json",
    }
    commands = {name: tuple(shlex.split(line)) for name, line in lines.items()}
    for case in BAD_SURVEYS:
        commands[f"bad survey: {case}"] = (
            *("surveys", "import", "--account", "Acme"),
            *(str(files[case]), "--json"),
        )
    for case, args in BAD_ARGS.items():
        commands[f"bad args: {case}"] = args
    for n, (case, (subject, body_text, _)) in enumerate(BAD_TEMPLATES.items()):
        bad_body = db.write(f"bad-template-{n}.txt", body_text)
        commands[f"bad template: {case}"] = (
            *("templates", "create", "--account", "Acme", "--name", f"Bad: {case}"),
            *("--subject", subject, "--body-file", str(bad_body)),
        )

    def launch(name: str, args: tuple[str, ...]) -> Any:
        url = BAD_DATABASE_URL if name == "bad args: unsupported database URL" else None
        return db.cli(*args, db_url=url)

    results = await asyncio.gather(*(launch(name, args) for name, args in commands.items()))
    out.results.update(zip(commands, results, strict=True))
    return out


def api_headers(token: str) -> dict[str, str]:
    return {"User-Agent": "CLI test", "Accept": MEDIA_TYPE, "Authorization": f"Token token={token}"}


@contextlib.asynccontextmanager
async def in_process_api(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app on ``db_url`` without a token cache, so a revocation shows at once."""
    app = create_app(
        Settings(database_url=db_url, public_url=BASE, token_cache_seconds=0, run_dispatcher=False)
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
    ):
        yield client


async def schedule(
    client: httpx.AsyncClient, token: str, survey_id: int, **fields: Any
) -> httpx.Response:
    return await client.post(
        "/feedback_requests",
        headers=api_headers(token),
        json={
            "email": "kate@example.com",
            "send_at": "2099-01-01T09:00:00Z",
            "survey_id": survey_id,
            **fields,
        },
    )


def one_line(result: CliResult) -> str:
    assert result.returncode == 0, result.describe()
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.describe()
    assert not lines[0].lstrip().startswith("{"), "--json was not asked for"
    return lines[0]


# ---- migrate ----


async def test_migrate_creates_every_table_and_can_run_again(run: Run) -> None:
    for name in ("migrate", "migrate again"):
        assert run[name].returncode == 0, run[name].describe()
        assert "Traceback" not in run[name].stderr
    tables = {n for (n,) in run.db.rows("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = {n for n in tables if not kept_outside_metadata(n)}  # 0009's search index
    assert tables - {"sqlite_sequence"} == set(Base.metadata.tables) | {"alembic_version"}
    assert len(run.db.rows("SELECT version_num FROM alembic_version")) == 1


# ---- accounts and tokens ----


async def test_accounts_create_json_gives_a_working_token_stored_only_as_a_hash(run: Run) -> None:
    created = run.json("accounts create --json")
    assert set(created) == {"id", "name", "token"}
    assert isinstance(created["id"], int)
    assert created["name"] == "Acme"
    token = created["token"]
    assert isinstance(token, str)
    assert len(token) >= 32

    assert run.db.rows("SELECT min_interval_days FROM accounts WHERE id = ?", created["id"]) == [
        (7,)
    ]
    hashes = {h for (h,) in run.db.rows("SELECT token_hash FROM api_tokens")}
    assert hashlib.sha256(token.encode()).hexdigest() in hashes
    with contextlib.closing(sqlite3.connect(run.db.url.removeprefix("sqlite:///"))) as raw:
        assert token not in "\n".join(raw.iterdump())

    async with in_process_api(run.db.url) as client:
        r = await client.get("/feedback_requests", headers=api_headers(token))
        assert r.status_code == 200, r.text
        assert r.headers["x-total-count"] == "0"


async def test_accounts_create_without_json_prints_one_readable_line(run: Run) -> None:
    line = one_line(run["accounts create"])
    assert "Globex" in line
    token = TOKEN.search(line)
    assert token, line
    async with in_process_api(run.db.url) as client:
        r = await client.get("/feedback_requests", headers=api_headers(token[0]))
        assert r.status_code == 200, r.text


async def test_tokens_create_and_revoke(run: Run) -> None:
    first = run.json("accounts create --json")["token"]
    by_name = run.json("tokens create --json")
    assert set(by_name) == {"token"}
    found = TOKEN.search(one_line(run["tokens create"]))
    assert found, run["tokens create"].stdout
    tokens = [first, by_name["token"], found[0]]
    assert len(set(tokens)) == 3

    async with in_process_api(run.db.url) as client:
        for token in tokens:
            r = await client.get("/feedback_requests", headers=api_headers(token))
            assert r.status_code == 200, r.text

        revoked = await run.db.cli("tokens", "revoke", by_name["token"])
        assert revoked.returncode == 0, revoked.describe()

        # The same app instance (no token cache): refused from now on, the others unaffected.
        r = await client.get("/feedback_requests", headers=api_headers(by_name["token"]))
        assert r.status_code == 401, r.text
        assert r.json() == {"message": "Bad credentials"}
        for token in (first, found[0]):
            r = await client.get("/feedback_requests", headers=api_headers(token))
            assert r.status_code == 200, r.text


# ---- surveys ----


async def test_surveys_import_yaml_and_json(run: Run) -> None:
    from_yaml = run.json("surveys import yaml")
    from_json = run.json("surveys import json")
    for survey in (from_yaml, from_json):
        assert set(survey) == {"id", "code", "name", "questions"}
        assert isinstance(survey["id"], int)
        assert re.fullmatch(r"[A-Za-z0-9_-]{6,}", survey["code"]), survey["code"]
        for question in survey["questions"]:
            assert set(question) == {"id", "text", "type", "nps"}
            assert isinstance(question["id"], int)
    assert from_yaml["id"] != from_json["id"]
    assert from_yaml["code"] != from_json["code"]
    assert from_yaml["name"] == "Support satisfaction"
    assert [q["type"] for q in from_yaml["questions"]] == README_TYPES
    assert [q["nps"] for q in from_yaml["questions"]] == [True] + [False] * 5
    assert from_yaml["questions"][0]["text"] == "How likely are you to recommend us to a friend?"
    assert from_json["name"] == "Delivery"
    assert [(q["type"], q["nps"]) for q in from_json["questions"]] == [
        ("rating", True),
        ("text", False),
    ]

    # The surveys belong to the account: its token can schedule requests for them.
    token = run.json("accounts create --json")["token"]
    async with in_process_api(run.db.url) as client:
        for survey in (from_yaml, from_json):
            r = await schedule(client, token, survey["id"])
            assert r.status_code == 201, r.text
            assert r.json()["survey_id"] == survey["id"]


async def test_surveys_import_without_json_prints_one_readable_line(run: Run) -> None:
    line = one_line(run["surveys import"])
    known = {run.json("surveys import yaml")["id"], run.json("surveys import json")["id"]}
    ((survey_id, code),) = [
        (i, c) for i, c in run.db.rows("SELECT id, code FROM surveys") if i not in known
    ]
    assert str(survey_id) in line
    assert code in line


@pytest.mark.parametrize("case", list(BAD_SURVEYS))
async def test_a_bad_survey_file_is_refused_whole_with_each_problem_named(
    run: Run, case: str
) -> None:
    result = run[f"bad survey: {case}"]
    assert result.returncode != 0, result.describe()
    assert "Traceback" not in result.stderr, result.describe()
    assert result.stdout.strip() == "", result.describe()
    for fragment in BAD_SURVEYS[case][2]:
        assert fragment in result.stderr, result.describe()
    # Nothing of any bad file was imported: only the three good imports exist.
    names = sorted(n for (n,) in run.db.rows("SELECT name FROM surveys"))
    assert names == ["Delivery", "Support satisfaction", "Support satisfaction"]
    assert run.db.rows("SELECT count(*) FROM questions") == [(2 * len(README_TYPES) + 2,)]


# ---- templates, staff, segments ----


async def test_templates_create(run: Run) -> None:
    created = run.json("templates create --json")
    assert isinstance(created["id"], int)
    assert run.db.rows(
        "SELECT name, subject, body FROM email_templates WHERE id = ?", created["id"]
    ) == [("Follow-up", "How did we do?", TEMPLATE_BODY)]
    assert "Second" in one_line(run["templates create"])

    # The template is the account's: a feedback request can use it.
    token = run.json("accounts create --json")["token"]
    survey_id = run.json("surveys import yaml")["id"]
    async with in_process_api(run.db.url) as client:
        r = await schedule(client, token, survey_id, email_template_id=created["id"])
        assert r.status_code == 201, r.text
        assert r.json()["email_template_id"] == created["id"]


@pytest.mark.parametrize("case", BAD_TEMPLATES)
async def test_a_template_that_cannot_render_is_refused_with_part_and_line(
    run: Run, case: str
) -> None:
    result = run[f"bad template: {case}"]
    assert result.returncode != 0, result.describe()
    assert "Traceback" not in result.stderr, result.describe()
    assert result.stderr.strip().splitlines() == BAD_TEMPLATES[case][2], result.describe()
    assert result.stdout.strip() == "", result.describe()
    # Nothing stored: the account has only the two good templates.
    assert run.db.rows("SELECT count(*) FROM email_templates WHERE name = ?", f"Bad: {case}") == [
        (0,)
    ]
    names = sorted(n for (n,) in run.db.rows("SELECT name FROM email_templates"))
    assert names == ["Follow-up", "Second"]


async def test_staff_create_with_and_without_a_team(run: Run) -> None:
    luke = run.json("staff create --json")
    leia = run.json("staff create --json, same team")
    assert isinstance(luke["id"], int)
    assert isinstance(leia["id"], int)
    assert luke["id"] != leia["id"]
    assert "han" in one_line(run["staff create"])

    acme = run.json("accounts create --json")["id"]
    teams = run.db.rows("SELECT id, name FROM teams WHERE account_id = ?", acme)
    assert [name for _, name in teams] == ["Support"]
    staff = {
        code: (name, team_id)
        for code, name, team_id in run.db.rows(
            "SELECT code, name, team_id FROM staff WHERE account_id = ?", acme
        )
    }
    assert staff == {
        "luke": ("Luke S", teams[0][0]),
        "leia": ("Leia O", teams[0][0]),
        "han": ("Han", None),
    }


async def test_segments_create(run: Run) -> None:
    created = run.json("segments create --json")
    assert isinstance(created["id"], int)
    acme = run.json("accounts create --json")["id"]
    assert run.db.rows("SELECT account_id, key FROM segments WHERE id = ?", created["id"]) == [
        (acme, "region")
    ]


# ---- bad arguments: one line, non-zero, never a traceback ----


@pytest.mark.parametrize("case", BAD_ARGS)
async def test_bad_arguments_exit_non_zero_with_one_line(run: Run, case: str) -> None:
    result = run[f"bad args: {case}"]
    assert result.returncode != 0, result.describe()
    assert "Traceback" not in result.stderr, result.describe()
    assert len(result.stderr.strip().splitlines()) == 1, result.describe()
    assert result.stdout.strip() == "", result.describe()


async def test_refused_commands_name_the_problem_and_change_nothing(run: Run) -> None:
    def stderr(case: str) -> str:
        return run[f"bad args: {case}"].stderr

    assert "nope" in stderr("unknown account")
    assert "nope" in stderr("unknown command")
    assert "--min-interval-days" in stderr("non-integer --min-interval-days")
    assert "Acme" in stderr("account name taken")
    assert "/nonexistent/s.yaml" in stderr("survey file missing")
    assert sorted(n for (n,) in run.db.rows("SELECT name FROM accounts")) == ["Acme", "Globex"]


# ---- PostgreSQL ----


async def test_account_and_survey_import_on_postgresql(tmp_path: Path) -> None:
    databases = fresh_database("postgresql", tmp_path)
    url = await databases.__anext__()
    try:
        pg = CliDb(url, tmp_path)
        account = await pg.cli_json("accounts", "create", "Acme PG", "--min-interval-days", "3")
        assert set(account) == {"id", "name", "token"}
        survey = await pg.cli_json(
            "surveys", "import", "--account", "Acme PG", str(pg.write("s.yaml", README_SURVEY))
        )
        assert set(survey) == {"id", "code", "name", "questions"}
        assert [q["type"] for q in survey["questions"]] == README_TYPES
        async with in_process_api(url) as client:
            r = await schedule(client, account["token"], survey["id"])
            assert r.status_code == 201, r.text
            assert r.json()["survey_id"] == survey["id"]
    finally:
        await databases.aclose()
