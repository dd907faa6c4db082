"""`opensure users create|list|remove` (SPEC §7), run as an operator runs them, and what they
make used through the console's sign-in."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from opensure.app import create_app
from opensure.config import Settings
from tests.console.conftest import browser, form_with_action, sign_in
from tests.fixtures.databases import fresh_database
from tests.fixtures.server import run_cli


@pytest.fixture(params=["sqlite", "postgresql"])
async def cli_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    gen = fresh_database(request.param, tmp_path)
    url = await gen.__anext__()
    yield url
    await gen.aclose()


async def test_users_create_list_remove(cli_db: str, tmp_path: Path) -> None:
    async def cli(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
        return await run_cli(
            *args,
            db_url=cli_db,
            cwd=tmp_path,
            stdin=stdin,
            env={"OPENSURE_PUBLIC_URL": "https://feedback.example.test"},
        )

    acme = (await cli("accounts", "create", "Acme", "--json")).json()
    beta = (await cli("accounts", "create", "Beta", "--json")).json()

    made = (
        await cli(
            "users",
            "create",
            "--account",
            "Acme",
            "--email",
            "Kate@Example.com",
            "--password-stdin",
            "--json",
            stdin="a long enough passphrase\n",
        )
    ).json()
    assert set(made) == {"id", "email", "role"}
    assert made["email"] == "Kate@Example.com" and made["role"] == "admin"

    invited = await cli(
        "users",
        "create",
        "--account",
        str(beta["id"]),
        "--email",
        "sam@example.com",
        "--role",
        "viewer",
    )
    assert invited.returncode == 0, invited.describe()
    link = re.search(r"https://feedback\.example\.test/app/set-password/\S+", invited.stdout)
    assert link, invited.stdout
    assert "24 hours" in invited.stdout

    # The same person in a second account keeps one password.
    again = (
        await cli("users", "create", "--account", "Beta", "--email", "kate@example.com", "--json")
    ).json()
    assert again["id"] == made["id"] and "password_link" not in again

    listed = json.loads((await cli("users", "list", "--account", "Beta", "--json")).stdout)
    assert [(u["email"], u["role"], u["has_password"]) for u in listed] == [
        ("Kate@Example.com", "admin", True),
        ("sam@example.com", "viewer", False),
    ]

    for args, message in [
        (("--account", "Acme", "--email", "kate@example.com"), "already a user of this account"),
        (("--account", "Acme", "--email", "x@example.com", "--role", "owner"), "--role must be"),
        (("--account", "Acme", "--email", "not-an-address"), "not a valid e-mail address"),
        (("--account", "Nope", "--email", "x@example.com"), "no account"),
    ]:
        refused = await cli("users", "create", *args)
        assert refused.returncode == 1, refused.describe()
        assert message in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert "Traceback" not in refused.stderr
    short = await cli(
        "users",
        "create",
        "--account",
        "Acme",
        "--email",
        "y@example.com",
        "--password-stdin",
        stdin="short\n",
    )
    assert short.returncode == 1 and "at least 10 characters" in short.stderr

    # What the CLI made signs in through the console.
    app = create_app(Settings(database_url=cli_db, public_url="http://testserver"))
    async with app.router.lifespan_context(app), browser(app) as client:
        assert (
            await sign_in(client, "kate@example.com", "a long enough passphrase")
        ).status_code == 303
        page = await client.get("/app/account")
        assert "Acme" in page.text and "Beta" in page.text
        path = link[0].removeprefix("https://feedback.example.test")
        async with browser(app) as sam:
            fields = form_with_action((await sam.get(path)).text, path)
            fields.update(password="sam's passphrase", confirm="sam's passphrase")
            assert (await sam.post(path, data=fields)).status_code == 303
            assert (await sign_in(sam, "sam@example.com", "sam's passphrase")).status_code == 303

        removed = await cli("users", "remove", "--account", "Acme", "--email", "KATE@example.com")
        assert removed.returncode == 0, removed.describe()
        # Kate's session showed Acme: it ends; she still signs in to Beta.
        assert (await client.get("/app/account")).status_code == 303
        async with browser(app) as again_client:
            assert (
                await sign_in(again_client, "kate@example.com", "a long enough passphrase")
            ).status_code == 303
            page = await again_client.get("/app/account")
            assert "Beta" in page.text and "Acme" not in page.text
    missing = await cli("users", "remove", "--account", "Acme", "--email", "kate@example.com")
    assert missing.returncode == 1 and "not a user of this account" in missing.stderr
    assert acme["id"] != beta["id"]
