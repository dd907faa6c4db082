"""Setting the one reminder from the command line (SPEC §10, docs/cli.md): an account's
``--reminder-after-days`` and a survey file's ``reminder_after_days``, checked (0 to 365) and
audited, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.test_cli import README_SURVEY
from tests.test_cli_admin import Cli, cli_db, ok, refused

__all__ = ["cli_db"]


async def test_reminder_after_days_of_accounts_and_survey_files(
    cli_db: str, tmp_path: Path
) -> None:
    cli = Cli(cli_db, tmp_path)
    acme = await cli.json("accounts", "create", "Acme")
    a = ("--account", "Acme")
    soon = cli.write("soon.yaml", README_SURVEY + "reminder_after_days: 2\n")
    r = await cli.many(
        ("accounts", "update", "Acme", "--reminder-after-days", "3", "--json"),
        ("surveys", "import", *a, soon, "--json"),
        ("surveys", "import", *a, cli.write("plain.yaml", README_SURVEY), "--json"),
        (
            "surveys",
            "import",
            *a,
            cli.write("bad.yaml", README_SURVEY + "reminder_after_days: 366\n"),
        ),
        ("accounts", "update", "Acme", "--reminder-after-days", "400"),
    )
    assert r[0].json()["reminder_after_days"] == 3
    with_own, plain = str(r[1].json()["id"]), str(r[2].json()["id"])
    refused(r[3], "reminder_after_days: a whole number of days from 0", lines=2)
    refused(r[4], "from 1 to 365; 0 sends none")
    assert (await cli.json("accounts", "show", "Acme"))["reminder_after_days"] == 3

    # Exported with the survey's own setting; without one, the key is left out.
    exported = yaml.safe_load(ok(await cli("surveys", "export", with_own, *a)))
    assert exported["reminder_after_days"] == 2
    assert "reminder_after_days" not in yaml.safe_load(
        ok(await cli("surveys", "export", plain, *a))
    )

    # Changing it alone is a change of setting, not a new version of the questions.
    exported["reminder_after_days"] = 0
    off = await cli.json(
        "surveys", "update", with_own, *a, cli.write("off.yaml", yaml.safe_dump(exported))
    )
    assert (off["version"], off["reminder_after_days"]) == (1, 0)
    exported.pop("reminder_after_days")
    back = await cli.json(
        "surveys", "update", with_own, *a, cli.write("back.yaml", yaml.safe_dump(exported))
    )
    assert (back["version"], back["reminder_after_days"]) == (1, None)
    exported["reminder_after_days"] = 5
    said = ok(
        await cli(
            "surveys", "update", with_own, *a, cli.write("five.yaml", yaml.safe_dump(exported))
        )
    )
    assert said.strip() == (
        f"survey {with_own}: settings saved (still version 1: the questions did not change)"
    )
    exported.pop("reminder_after_days")
    said = ok(
        await cli(
            "surveys", "update", with_own, *a, cli.write("none.yaml", yaml.safe_dump(exported))
        )
    )
    assert "settings saved" in said
    assert set(await cli.rows("SELECT id, reminder_after_days FROM surveys")) == {
        (int(with_own), None),
        (int(plain), None),
    }

    logged = await cli.rows(
        "SELECT action FROM audit_events WHERE account_id = :a ORDER BY id", a=acme["id"]
    )
    assert logged.count(("account.updated",)) == 1
    assert logged.count(("survey.updated",)) == 4
