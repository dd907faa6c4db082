"""``opensure accounts link-back``: the operator sets the template the response page links the
reference through; a template that could never give a web link is refused."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from tests.conftest import Account
from tests.console.inbox_pages import parse
from tests.feedback_responses.inbox_support import full_response
from tests.fixtures.server import run_cli


async def test_the_template_set_by_the_cli_links_the_reference(
    app: FastAPI, db_url: str, account: Account, admin: httpx.AsyncClient, tmp_path: Path
) -> None:
    rid = await full_response(app, account, machine_id="INC 7")
    template = "https://desk.example.com/tickets/{machine_id}"
    result = await run_cli(
        "accounts",
        "link-back",
        "--account",
        account.name,
        "--template",
        template,
        "--json",
        db_url=db_url,
        cwd=tmp_path,
    )
    assert result.json() == {"id": account.id, "link_back_template": template}
    html = (await admin.get(f"/app/responses/{rid}")).text
    assert "https://desk.example.com/tickets/INC%207" in parse(html).hrefs

    refused = await run_cli(
        "accounts",
        "link-back",
        "--account",
        str(account.id),
        "--template",
        "javascript:alert('{reference}')",
        db_url=db_url,
        cwd=tmp_path,
    )
    assert refused.returncode == 1
    assert "Start it with https:// or http://" in refused.stderr
    assert (
        "https://desk.example.com/tickets/INC%207"
        in parse((await admin.get(f"/app/responses/{rid}")).text).hrefs
    )

    cleared = await run_cli(
        "accounts",
        "link-back",
        "--account",
        str(account.id),
        "--template",
        "",
        db_url=db_url,
        cwd=tmp_path,
    )
    assert cleared.returncode == 0, cleared.describe()
    assert cleared.stdout.strip() == "link back removed"
    html = (await admin.get(f"/app/responses/{rid}")).text
    assert not [h for h in parse(html).hrefs if "desk.example.com" in h]
