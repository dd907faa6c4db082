"""`opensure accounts update` with the account settings of the console (display name, sender
name, reply-to, brand colour, logo), checked by the same service, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.fixtures.images import png
from tests.test_cli_admin import Cli, cli_db

__all__ = ["cli_db"]  # a fresh database of each engine


async def test_accounts_update_sets_and_clears_the_branding(cli_db: str, tmp_path: Path) -> None:
    cli = Cli(cli_db, tmp_path)
    await cli.json("accounts", "create", "Acme")
    logo = tmp_path / "logo.png"
    logo.write_bytes(png(5, 5))
    updated = await cli.json(
        "accounts", "update", "Acme",
        "--display-name", "Acme Widgets Ltd",
        "--sender-name", "Acme Care",
        "--reply-to", "care@acme.example",
        "--brand-colour", "#1A7F37",
        "--logo", str(logo),
    )  # fmt: skip
    assert updated["name"] == "Acme"
    assert updated["display_name"] == "Acme Widgets Ltd"
    assert updated["sender_name"] == "Acme Care"
    assert updated["reply_to"] == "care@acme.example"
    assert updated["brand_colour"] == "#1a7f37"
    sha = hashlib.sha256(logo.read_bytes()).hexdigest()
    assert updated["logo"]["sha256"] == sha
    assert updated["logo"]["path"] == f"/brand/{updated['id']}/logo-{sha[:12]}.png"

    shown = await cli.json("accounts", "show", "Acme")
    assert shown["display_name"] == "Acme Widgets Ltd" and shown["brand_colour"] == "#1a7f37"
    cleared = await cli.json("accounts", "update", "Acme", "--sender-name", "", "--reply-to", "")
    assert cleared["sender_name"] is None and cleared["reply_to"] is None
    assert cleared["display_name"] == "Acme Widgets Ltd"


async def test_accounts_update_refuses_what_the_console_refuses(
    cli_db: str, tmp_path: Path
) -> None:
    cli = Cli(cli_db, tmp_path)
    await cli.json("accounts", "create", "Acme")
    svg = tmp_path / "logo.png"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>')
    results = await cli.many(
        ("accounts", "update", "Acme", "--brand-colour", "red"),
        ("accounts", "update", "Acme", "--reply-to", "nobody"),
        ("accounts", "update", "Acme", "--sender-name", "x" * 101),
        ("accounts", "update", "Acme", "--logo", str(svg)),
        ("accounts", "update", "Acme", "--logo", str(tmp_path / "missing.png")),
    )
    expected = [
        "six hexadecimal digits",
        "not an e-mail address",
        "at most 100 characters",
        "logo not saved: The logo must be a PNG, JPEG, GIF or WebP image",
        "cannot read",
    ]
    for result, message in zip(results, expected, strict=True):
        assert result.returncode != 0, result.describe()
        assert message in result.stderr, result.describe()
        assert "Traceback" not in result.stderr
    shown = await cli.json("accounts", "show", "Acme")
    assert shown["brand_colour"] is None and shown["reply_to"] is None
