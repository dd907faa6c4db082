"""The CLI's other verbs (list, show, update, delete/archive) and switching from CustomerSure
(SPEC §7; issue 14 §4, §5), run as an operator runs them, on SQLite and PostgreSQL.

Each `opensure` process spends about a second importing, so independent commands run side by
side (asyncio.gather) and each test groups many. What the commands make is then used through
the API (in-process), the way the two public clients use it: a Ruby integration sending
``"survey_id":3846`` and ``"email_template_id":106``, a PHP one hard-coding survey 5799 and a
32-hex-digit token.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import text

from opensure.db import create_engine
from tests.console import test_users_cli
from tests.fixtures.server import MEDIA_TYPE, CliResult, run_cli
from tests.test_cli import README_SURVEY, TEMPLATE_BODY, in_process_api

# A fresh database of each engine (the users CLI's fixture).
cli_db = test_users_cli.cli_db
CS_TOKEN = "ec76c296df321768ba4cc41a445bfb6f"  # the CustomerSure document's own example
SITES_CSV = (
    "site_code,name,city,region,country_code\n"
    "hq,Head Office,Newcastle,Tyne and Wear,GB\n"
    "lon,London,London,,\n"
)
# Every line but the first is wrong; the header is line 1.
BAD_SITES_CSV = (
    "site_code,name,city,region,country_code\n"
    "ok,Fine,,,\n"
    "bad code,Spaces,,,\n"
    "nowhere,Nowhere,,Somewhere,ZZ\n"
    "ok,Again,,,\n"
    "short,row\n"
    "noregion,No region,,,FR\n"
)
STAFF_CSV = "code,name,team\nluke,Luke S,Support\nleia,Leia O,Support\nhan,Han,\n"
BAD_STAFF_CSV = "code,name,team\nluke,,Support\n,Nobody,\nluke,Again,\n"


class Cli:
    def __init__(self, db_url: str, workdir: Path) -> None:
        self.db_url = db_url
        self.workdir = workdir

    async def __call__(self, *args: str, stdin: str | None = None) -> CliResult:
        return await run_cli(*args, db_url=self.db_url, cwd=self.workdir, stdin=stdin)

    async def json(self, *args: str) -> Any:
        return (await self(*args, "--json")).json()

    async def many(self, *commands: tuple[str, ...]) -> list[CliResult]:
        return list(await asyncio.gather(*(self(*c) for c in commands)))

    def write(self, name: str, content: str) -> str:
        path = self.workdir / name
        path.write_text(content, encoding="utf-8")
        return str(path)

    async def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        engine = create_engine(self.db_url)
        try:
            async with engine.connect() as conn:
                return [tuple(r) for r in await conn.execute(text(sql), params)]
        finally:
            await engine.dispose()


def ok(result: CliResult) -> str:
    assert result.returncode == 0, result.describe()
    return result.stdout


def refused(result: CliResult, *fragments: str, lines: int = 1) -> None:
    """Exit 1, nothing on stdout, ``lines`` lines on stderr naming the problem."""
    assert result.returncode == 1, result.describe()
    assert "Traceback" not in result.stderr, result.describe()
    assert result.stdout.strip() == "", result.describe()
    assert len(result.stderr.strip().splitlines()) == lines, result.describe()
    for fragment in fragments:
        assert fragment in result.stderr, result.describe()


def headers(token: str) -> dict[str, str]:
    return {
        "User-Agent": "Ruby integration",
        "Accept": MEDIA_TYPE,
        "Authorization": f'Token token="{token}"',
    }


def request_body(survey_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "email": "kate@example.com",
        "send_at": "2099-01-01T09:00:00Z",
        "survey_id": survey_id,
        **fields,
    }


async def test_switching_keeps_survey_and_template_ids_and_the_token(
    cli_db: str, tmp_path: Path
) -> None:
    cli = Cli(cli_db, tmp_path)
    survey = cli.write("survey.yaml", README_SURVEY)
    body = cli.write("body.txt", TEMPLATE_BODY)
    template = ("--account", "Acme", "--subject", "How did we do?", "--body-file", body)
    acme = await cli.json("accounts", "create", "Acme")

    ruby, template_106, php, imported = await cli.many(
        ("surveys", "import", "--account", "Acme", survey, "--id", "3846", "--json"),
        ("templates", "create", "--name", "CS 106", *template, "--id", "106", "--json"),
        ("surveys", "import", "--account", str(acme["id"]), survey, "--id", "5799", "--json"),
        ("tokens", "import", "--account", "Acme", CS_TOKEN, "--json"),
    )
    assert ruby.json()["id"] == 3846
    assert template_106.json()["id"] == 106
    assert php.json()["id"] == 5799
    assert imported.json() == {"account_id": acme["id"], "prefix": CS_TOKEN[:8]}

    (later_survey, later_template, *bad) = await cli.many(
        ("surveys", "import", "--account", "Acme", survey, "--json"),
        ("templates", "create", "--name", "Later", *template, "--json"),
        ("surveys", "import", "--account", "Acme", survey, "--id", "3846"),
        ("templates", "create", "--name", "Clash", *template, "--id", "106"),
        ("tokens", "import", "--account", "Acme", CS_TOKEN),
        ("tokens", "import", "--account", "Acme", "too-short"),
        ("surveys", "import", "--account", "Acme", survey, "--id", "0"),
        ("templates", "create", "--name", "Negative", *template, "--id", "-5"),
    )
    # Later objects never collide: the sequence moved past the imported ids (PostgreSQL).
    assert later_survey.json()["id"] > 5799
    assert later_template.json()["id"] > 106
    refused(bad[0], "survey id 3846 is already taken")
    refused(bad[1], "template id 106 is already taken")
    refused(bad[2], "already an API token")
    refused(bad[3], "16 to 128 printable ASCII characters")
    refused(bad[4], "whole number from 1")
    refused(bad[5], "whole number from 1")
    # Nothing of a refused command was created.
    assert await cli.rows("SELECT count(*) FROM surveys") == [(3,)]
    assert sorted(n for (n,) in await cli.rows("SELECT name FROM email_templates")) == [
        "CS 106",
        "Later",
    ]

    # Stored only as its hash (and a quarter of it in clear, as the list shows it).
    stored = await cli.rows("SELECT token_hash, prefix FROM api_tokens")
    assert (hashlib.sha256(CS_TOKEN.encode()).hexdigest(), CS_TOKEN[:8]) in stored
    assert not any(CS_TOKEN in str(cell) for row in stored for cell in row)

    # The clients, unchanged but for the host name.
    async with in_process_api(cli_db) as client:
        r = await client.post(
            "/feedback_requests",
            headers=headers(CS_TOKEN),
            json=request_body(3846, email_template_id=106),
        )
        assert r.status_code == 201, r.text
        assert (r.json()["survey_id"], r.json()["email_template_id"]) == (3846, 106)
        r = await client.post(
            "/feedback_requests", headers=headers(CS_TOKEN), json=request_body(5799)
        )
        assert r.status_code == 201, r.text

        ok(await cli("tokens", "revoke", "--account", "Acme", "--prefix", CS_TOKEN[:6]))
        r = await client.get("/feedback_requests", headers=headers(CS_TOKEN))
        assert r.status_code == 401, r.text
        r = await client.get("/feedback_requests", headers=headers(acme["token"]))
        assert r.status_code == 200, r.text
    # Listed by prefix, newest first, with when each was created and revoked.
    (revoked, first) = await cli.json("tokens", "list", "--account", "Acme")
    assert (revoked["prefix"], first["prefix"]) == (CS_TOKEN[:8], acme["token"][:10])
    assert revoked["created_at"] and revoked["revoked_at"]
    assert first["created_at"] and first["revoked_at"] is None


async def test_sites_and_staff_from_csv_all_lines_or_none(cli_db: str, tmp_path: Path) -> None:
    cli = Cli(cli_db, tmp_path)
    sites, bad_sites = cli.write("sites.csv", SITES_CSV), cli.write("bad.csv", BAD_SITES_CSV)
    staff, bad_staff = cli.write("staff.csv", STAFF_CSV), cli.write("bad-staff.csv", BAD_STAFF_CSV)
    ok(await cli("accounts", "create", "Acme"))
    acme = ("--account", "Acme")

    dry, bad_dry, bad_real, staff_dry, staff_bad = await cli.many(
        ("sites", "import", *acme, sites, "--dry-run", "--json"),
        ("sites", "import", *acme, bad_sites, "--dry-run"),
        ("sites", "import", *acme, bad_sites),
        ("staff", "import", *acme, staff, "--dry-run"),
        ("staff", "import", *acme, bad_staff),
    )
    assert dry.json() == {"created": ["hq", "lon"], "replaced": [], "dry_run": True}
    for result in (bad_dry, bad_real):
        # Every problem of every line, in line order, after one summary line.
        refused(result, lines=6)
        assert result.stderr.splitlines() == [
            "opensure: sites: nothing imported, 5 problems:",
            "opensure: line 3: site_code: must match ^[A-Za-z0-9._~-]{1,50}$",
            "opensure: line 4: country_code: not an ISO 3166-1 alpha-2 country code",
            "opensure: line 5: site_code: 'ok' is on line 2 too",
            "opensure: line 6: 2 cells, the header has 5",
            "opensure: line 7: region: region is required when country_code is given",
        ], result.describe()
    assert "staff: 3 created, 0 replaced, new teams: Support (dry run" in ok(staff_dry)
    refused(staff_bad, "line 2: name: required", "line 3: code: required", lines=4)
    assert "line 4: code: 'luke' is on line 2 too" in staff_bad.stderr
    # Nothing imported by any of them.
    assert await cli.rows("SELECT count(*) FROM sites") == [(0,)]
    assert await cli.rows("SELECT count(*) FROM staff") == [(0,)]
    assert await cli.rows("SELECT count(*) FROM teams") == [(0,)]

    real_sites, real_staff = await cli.many(
        ("sites", "import", *acme, sites, "--json"), ("staff", "import", *acme, staff, "--json")
    )
    assert real_sites.json()["created"] == ["hq", "lon"]
    assert real_staff.json() == {
        "created": ["luke", "leia", "han"],
        "replaced": [],
        "new_teams": ["Support"],
        "dry_run": False,
    }
    # Again: the same codes are replaced, not duplicated.
    again = await cli.json("sites", "import", *acme, sites)
    assert (again["created"], again["replaced"]) == ([], ["hq", "lon"])

    assert await cli.rows(
        "SELECT site_code, name, city, region, country_code FROM sites ORDER BY site_code"
    ) == [
        ("hq", "Head Office", "Newcastle", "Tyne and Wear", "GB"),
        ("lon", "London", "London", None, None),
    ]
    assert await cli.rows(
        "SELECT s.code, t.name FROM staff s LEFT JOIN teams t ON t.id = s.team_id ORDER BY s.code"
    ) == [("han", None), ("leia", "Support"), ("luke", "Support")]


async def test_list_show_update_delete_every_kind(cli_db: str, tmp_path: Path) -> None:
    cli = Cli(cli_db, tmp_path)
    survey = cli.write("survey.yaml", README_SURVEY)
    body = cli.write("body.txt", TEMPLATE_BODY)
    new_body = cli.write("new-body.txt", "Hello {{ first_name }}: {{ survey_link }}\n")
    broken = cli.write("broken.txt", "Hi {{ first_name }\n")
    acme = await cli.json("accounts", "create", "Acme")
    a = ("--account", "Acme")
    created = await cli.many(
        ("accounts", "create", "Beta", "--min-interval-days", "2"),
        ("surveys", "import", *a, survey, "--json"),
        ("templates", "create", *a, "--name", "T1", "--subject", "S1", "--body-file", body),
        ("templates", "create", *a, "--name", "T2", "--subject", "S2", "--body-file", body),
        ("segments", "create", *a, "--key", "region"),
        ("sites", "import", *a, cli.write("sites.csv", SITES_CSV)),
        ("staff", "import", *a, cli.write("staff.csv", STAFF_CSV)),
        ("unsubscribes", "add", *a, "Kate@Example.com"),
    )
    for result in created:
        ok(result)
    admin_user = ("users", "create", *a, "--email", "admin@example.com", "--password-stdin")
    ok(await cli(*admin_user, stdin="a long enough passphrase\n"))
    survey_id = created[1].json()["id"]
    t1, t2 = (i for (i,) in await cli.rows("SELECT id FROM email_templates ORDER BY id"))
    async with in_process_api(cli_db) as client:
        r = await client.post(
            "/feedback_requests",
            headers=headers(acme["token"]),
            json=request_body(survey_id, email_template_id=t1, email="sam@example.com"),
        )
        assert r.status_code == 201, r.text

    # Reads, and refusals that change nothing: side by side.
    r = await cli.many(
        ("accounts", "list", "--json"),
        ("accounts", "show", "Acme", "--json"),
        ("surveys", "list", *a, "--json"),
        ("surveys", "show", str(survey_id), *a, "--json"),
        ("templates", "list", *a, "--json"),
        ("templates", "show", str(t1), *a, "--json"),
        ("staff", "show", "luke", *a, "--json"),
        ("segments", "list", *a, "--json"),
        ("sites", "show", "hq", *a, "--json"),
        ("unsubscribes", "list", *a, "--search", "KATE", "--json"),
        ("users", "show", *a, "--email", "ADMIN@example.com", "--json"),
        ("accounts", "update", "Beta", "--name", "Acme"),
        ("accounts", "delete", "Beta"),
        ("templates", "update", str(t1), *a, "--body-file", broken),
        ("templates", "delete", str(t1), *a),
        ("staff", "update", "leia", *a, "--code", "han"),
        ("sites", "update", "lon", *a, "--country-code", "GB"),
        ("unsubscribes", "add", *a, "not-an-address"),
        ("users", "update", *a, "--email", "admin@example.com", "--role", "viewer"),
    )
    assert [(x["name"], x["min_interval_days"]) for x in r[0].json()] == [("Acme", 0), ("Beta", 2)]
    assert r[1].json()["id"] == acme["id"] and r[1].json()["created_at"].endswith("Z")
    (listed,) = r[2].json()
    assert (listed["id"], listed["questions"], listed["archived_at"]) == (survey_id, 6, None)
    shown = r[3].json()
    assert [q["type"] for q in shown["questions"]][:3] == ["rating", "rating", "text"]
    assert shown["questions"][0]["nps"] is True
    assert [t["name"] for t in r[4].json()] == ["T1", "T2"]
    assert r[5].json()["body"] == TEMPLATE_BODY
    assert {k: r[6].json()[k] for k in ("code", "name", "team")} == {
        "code": "luke",
        "name": "Luke S",
        "team": "Support",
    }
    assert [s["key"] for s in r[7].json()] == ["region"]
    assert r[8].json()["name"] == "Head Office"
    assert [u["email"] for u in r[9].json()] == ["kate@example.com"]
    assert r[10].json()["role"] == "admin" and r[10].json()["accounts"][0]["name"] == "Acme"
    refused(r[11], "an account named 'Acme' already exists")
    refused(r[12], "--confirm 'Beta'")
    refused(r[13], "template not saved: body line 1")
    refused(r[14], "used by 1 pending feedback request")
    refused(r[15], "staff code 'han' is already taken")
    refused(r[16], "region is required when country_code is given")
    refused(r[17], "not a valid e-mail address")
    refused(r[18], "only admin")

    # Changes, each to another object: side by side.
    w = await cli.many(
        ("accounts", "update", "Beta", "--name", "Beta Ltd", "--min-interval-days", "5"),
        ("templates", "update", str(t2), *a, "--subject", "New", "--body-file", new_body),
        ("staff", "update", "luke", *a, "--code", "luke2", "--team", "", "--json"),
        ("staff", "delete", "han", *a),
        ("segments", "update", "region", *a, "--key", "area", "--json"),
        ("sites", "update", "hq", *a, "--code", "head", "--city", "Gateshead", "--json"),
        ("sites", "delete", "lon", *a),
        ("unsubscribes", "remove", *a, "KATE@example.com"),
    )
    for result in w:
        ok(result)
    assert (w[2].json()["code"], w[2].json()["team"]) == ("luke2", None)
    assert w[4].json()["key"] == "area"
    assert (w[5].json()["site_code"], w[5].json()["city"]) == ("head", "Gateshead")
    assert await cli.rows("SELECT name, min_interval_days FROM accounts ORDER BY id") == [
        ("Acme", 0),
        ("Beta Ltd", 5),
    ]
    assert await cli.rows("SELECT subject, body FROM email_templates WHERE id = :i", i=t2) == [
        ("New", "Hello {{ first_name }}: {{ survey_link }}\n")
    ]
    assert await cli.rows("SELECT code, team_id FROM staff ORDER BY code") == [
        ("leia", (await cli.rows("SELECT id FROM teams"))[0][0]),
        ("luke2", None),
    ]
    assert await cli.rows("SELECT count(*) FROM unsubscribes") == [(0,)]

    d = await cli.many(
        ("templates", "delete", str(t2), *a),
        ("accounts", "delete", "Beta Ltd", "--confirm", "Beta Ltd", "--json"),
        ("segments", "delete", "area", *a),
        ("sites", "show", "hq", *a),
        ("unsubscribes", "remove", *a, "kate@example.com"),
    )
    assert ok(d[0]).strip() == f"template {t2} deleted"
    assert d[1].json()["deleted"] is True
    ok(d[2])
    refused(d[3], "renamed: its code is now 'head'")
    refused(d[4], "not on this account's unsubscribe list")
    assert await cli.rows("SELECT id FROM email_templates") == [(t1,)]
    assert await cli.rows("SELECT name FROM accounts") == [("Acme",)]
    # Beta's first token went with it; Acme's stays.
    assert await cli.rows("SELECT DISTINCT account_id FROM api_tokens") == [(acme["id"],)]
    assert await cli.rows("SELECT count(*) FROM segments") == [(0,)]
    async with in_process_api(cli_db) as client:
        gone = await client.get("/sites/lon", headers=headers(acme["token"]))
        assert gone.status_code == 404
        moved = await client.get("/sites/hq", headers=headers(acme["token"]))
        assert moved.status_code == 301 and moved.headers["location"].endswith("/sites/head")


BAD_ARGS: dict[str, tuple[tuple[str, ...], str]] = {
    # case: (arguments, what the one line on stderr names)
    "surveys import, --id not a number": (
        ("surveys", "import", "--account", "Acme", "s.yaml", "--id", "abc"),
        "--id",
    ),
    "tokens import, a quote": (
        ("tokens", "import", "--account", "Acme", 'has"a-quote-in-it'),
        "quotes",
    ),
    "templates show, id not a number": (("templates", "show", "x", "--account", "Acme"), "ID"),
    "templates show, unknown id": (("templates", "show", "999", "--account", "Acme"), "999"),
    "staff update, nothing to change": (
        ("staff", "update", "nobody", "--account", "Acme"),
        "nobody",
    ),
    "segments update, no --key": (("segments", "update", "x", "--account", "Acme"), "--key"),
    "sites update, nothing to change": (
        ("sites", "update", "x", "--account", "Acme"),
        "nothing to change",
    ),
    "sites import, missing file": (
        ("sites", "import", "--account", "Acme", "/nonexistent.csv"),
        "/nonexistent.csv",
    ),
    "tokens revoke, no token nor prefix": (("tokens", "revoke"), "--prefix"),
    "accounts update, nothing to change": (("accounts", "update", "Acme"), "nothing to change"),
    "users update, bad role": (
        ("users", "update", "--account", "Acme", "--email", "x@example.com", "--role", "owner"),
        "--role",
    ),
    "unsubscribes, unknown verb": (("unsubscribes", "purge"), "purge"),
    "sites list, missing --account": (("sites", "list"), "--account"),
}


async def test_bad_arguments_of_the_new_verbs_are_one_line_never_a_traceback(
    tmp_path: Path,
) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'opensure.db'}", tmp_path)
    ok(await cli("accounts", "create", "Acme"))
    results = await cli.many(*(args for args, _ in BAD_ARGS.values()))
    for (case, (_, named)), result in zip(BAD_ARGS.items(), results, strict=True):
        assert result.returncode != 0, f"{case}\n{result.describe()}"
        assert "Traceback" not in result.stderr, f"{case}\n{result.describe()}"
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("opensure: "), result.describe()
        assert named in lines[0], f"{case}\n{result.describe()}"
        assert result.stdout.strip() == "", result.describe()
    assert await cli.rows("SELECT name FROM accounts") == [("Acme",)]


async def test_surveys_export_update_archive_restore_duplicate(cli_db: str, tmp_path: Path) -> None:
    """`surveys export` gives a file to edit; `surveys update` makes a new version keeping the
    ids of kept questions, and an earlier response keeps the questions as it answered them."""
    import yaml

    cli = Cli(cli_db, tmp_path)
    acme = await cli.json("accounts", "create", "Acme")
    a = ("--account", "Acme")
    imported = await cli.json("surveys", "import", *a, cli.write("s.yaml", README_SURVEY))
    survey_id = str(imported["id"])
    exported = yaml.safe_load(ok(await cli("surveys", "export", survey_id, *a)))
    ids = [q["id"] for q in exported["questions"]]
    assert ids == [q["id"] for q in imported["questions"]]

    exported["questions"][0]["text"] = "Would you recommend us?"
    removed = exported["questions"].pop(2)
    exported["questions"].append({"type": "text", "text": "One more thing?", "required": False})
    changed = cli.write("changed.yaml", yaml.safe_dump(exported))
    wrong_type = dict(exported, questions=[dict(exported["questions"][1], type="text")])
    wrong_type["questions"][0].pop("scale", None)
    wrong = cli.write("wrong.yaml", yaml.safe_dump(wrong_type))

    r = await cli.json("surveys", "update", survey_id, *a, str(changed))
    assert r["version"] == 2
    assert [q["id"] for q in r["questions"]][:5] == [ids[0], ids[1], *ids[3:6]]
    assert removed["id"] not in [q["id"] for q in r["questions"]]
    assert r["questions"][0]["text"] == "Would you recommend us?"
    same = cli.write("same.yaml", ok(await cli("surveys", "export", survey_id, *a)))
    assert "unchanged (version 2)" in ok(await cli("surveys", "update", survey_id, *a, str(same)))
    refused(
        await cli("surveys", "update", survey_id, *a, str(wrong)),
        "questions[0].type: stays rating",
        lines=2,
    )
    refused(await cli("surveys", "update", "987654", *a, str(same)), "no survey 987654")

    r = await cli.many(
        ("surveys", "archive", survey_id, *a, "--json"),
        ("surveys", "duplicate", survey_id, *a, "--name", "Copy", "--json"),
    )
    assert ok(r[0]) and r[0].json()["archived_at"]
    copy = r[1].json()
    assert copy["name"] == "Copy" and copy["id"] != imported["id"]
    refused(await cli("surveys", "update", survey_id, *a, str(same)), "is archived")
    restored = await cli.json("surveys", "restore", survey_id, *a)
    assert restored["archived_at"] is None
    listed = await cli.json("surveys", "list", *a)
    assert [(s["id"], s["version"]) for s in listed] == [(imported["id"], 2), (copy["id"], 1)]
    # Each change is in the account's audit log, by the command line (the unchanged update and
    # the refusals are not).
    logged = await cli.rows(
        "SELECT action, via FROM audit_events WHERE account_id = :a AND action LIKE 'survey.%' "
        "ORDER BY id",
        a=acme["id"],
    )
    assert logged == [
        ("survey.imported", "cli"),
        ("survey.updated", "cli"),
        ("survey.archived", "cli"),
        ("survey.created", "cli"),
        ("survey.restored", "cli"),
    ] or logged == [
        ("survey.imported", "cli"),
        ("survey.updated", "cli"),
        ("survey.created", "cli"),
        ("survey.archived", "cli"),
        ("survey.restored", "cli"),
    ]


async def test_teams_list_show_rename_delete(cli_db: str, tmp_path: Path) -> None:
    cli = Cli(cli_db, tmp_path)
    ok(await cli("accounts", "create", "Acme"))
    a = ("--account", "Acme")
    ok(await cli("staff", "import", *a, cli.write("staff.csv", STAFF_CSV)))
    ok(await cli("staff", "create", *a, "--code", "rey", "--name", "Rey", "--team", "Jedi"))
    ok(await cli("staff", "update", "rey", *a, "--team", ""))
    listed = await cli.json("teams", "list", *a)
    assert [(t["name"], t["staff"]) for t in listed] == [("Jedi", 0), ("Support", 2)]
    shown = await cli.json("teams", "show", "Support", *a)
    assert shown["staff"] == 2
    r = await cli.many(
        ("teams", "update", "Support", *a, "--name", "Jedi"),
        ("teams", "delete", "Support", *a),
        ("teams", "show", "Nobody", *a),
    )
    refused(r[0], "a team named 'Jedi' already exists")
    refused(r[1], "still has 2 staff members")
    refused(r[2], "no team with name or id 'Nobody'")
    renamed = await cli.json("teams", "update", str(shown["id"]), *a, "--name", "Care")
    assert renamed["name"] == "Care"
    assert "deleted" in ok(await cli("teams", "delete", "Jedi", *a))
    staff = await cli.json("staff", "show", "luke", *a)
    assert staff["team"] == "Care"
    assert [t["name"] for t in await cli.json("teams", "list", *a)] == ["Care"]
    logged = await cli.rows(
        "SELECT action, via FROM audit_events WHERE action LIKE 'team.%' ORDER BY id"
    )
    assert logged == [("team.updated", "cli"), ("team.deleted", "cli")]
    # The same log, read back by `opensure audit list`, newest first.
    listed = await cli.json("audit", "list", *a, "--kind", "team")
    assert [(e["action"], e["via"]) for e in listed] == [
        ("team.deleted", "cli"),
        ("team.updated", "cli"),
    ]
    assert listed[1]["changes"] == [{"field": "name", "before": "Support", "after": "Care"}]
    assert listed[0]["at"].endswith("Z")
    refused(await cli("audit", "list", "--account", "Nobody"), "Nobody")
