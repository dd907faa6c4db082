"""The audit log (/app/settings/audit) and the token last-used time, on SQLite and PostgreSQL:
changes made in the console's forms and with the CLI appear with who made them and before →
after; viewers get 403, other accounts' events never show, hostile strings stay text, and the
log pages back fifty at a time. An API call sets its token's last-used time without a
statement on its own path."""

from __future__ import annotations

import asyncio
import getpass
import html
import json
import re
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from opensure.api.negotiation import TokenCache
from opensure.audit import service as audit
from opensure.core.tokens import hash_token
from tests.conftest import Account
from tests.console.conftest import add_user, csrf, session_of
from tests.console.test_settings import post
from tests.fixtures.server import run_cli

AUDIT = "/app/settings/audit"
USERS = "/app/settings/users"
TOKENS = "/app/settings/tokens"


def shown_events(page: httpx.Response) -> list[dict[str, Any]]:
    """The log's rows as a reader sees them: id, who, what (sentence and subject), changes."""
    assert page.status_code == 200, page.text
    rows = []
    for ident, body in re.findall(r'<tr id="event-(\d+)">(.*?)</tr>', page.text, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
        text = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]
        rows.append(
            {"id": int(ident), "when": text[0], "who": text[1], "what": text[2], "changes": text[3]}
        )
    return rows


async def events_of(app: FastAPI, account_id: int, **kwargs: Any) -> list[dict[str, Any]]:
    async with app.state.engine.connect() as conn:
        return await audit.events(conn, account_id, **kwargs)


async def test_console_changes_are_logged_with_before_and_after(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    me = admin.user["email"]  # type: ignore[attr-defined]
    made = await post(admin, USERS, USERS, email="sam@example.com", role="viewer")
    assert made.status_code == 200, made.text
    sam = re.search(r'<tr id="user-(\d+)">\s*<td><bdi>sam@example.com', made.text)
    assert sam
    assert (await post(admin, USERS, f"{USERS}/{sam[1]}/role", role="admin")).status_code == 303
    assert (await post(admin, USERS, f"{USERS}/{sam[1]}/remove")).status_code == 303
    token_page = await post(admin, TOKENS, TOKENS)
    token = html.unescape(re.findall(r'<code class="secret">([^<]+)</code>', token_page.text)[0])
    newest = re.findall(r'<tr id="token-(\d+)">', token_page.text)[0]
    assert (await post(admin, TOKENS, f"{TOKENS}/{newest}/revoke")).status_code == 303
    # Revoking it again changes nothing, and logs nothing.
    token_form = {"csrf_token": await csrf(admin, TOKENS)}
    assert (await admin.post(f"{TOKENS}/{newest}/revoke", data=token_form)).status_code == 303
    pending = await account.post(
        "/feedback_requests",
        json={
            "email": "kate@example.com",
            "send_at": "2099-01-01T09:00:00Z",
            "survey_id": account.survey_id,
        },
    )
    assert pending.status_code == 201, pending.text
    request_id = pending.json()["id"]
    cancelled = await admin.post(f"/app/feedback_requests/{request_id}/cancel", data=token_form)
    assert cancelled.status_code == 303, cancelled.text

    rows = shown_events(await admin.get(AUDIT))
    assert [r["what"] for r in rows] == [
        f"cancelled the feedback request Feedback request {request_id}",
        f"revoked the API token API token {token[:10]}…",
        f"created the API token API token {token[:10]}…",
        "removed the user User sam@example.com",
        "changed the role of the user User sam@example.com",
        "invited the user User sam@example.com",
    ]
    assert {r["who"] for r in rows} == {me}
    by_what = {r["what"]: r for r in rows}
    assert by_what["changed the role of the user User sam@example.com"]["changes"] == (
        "role : viewer → changed to admin"
    )
    assert by_what["invited the user User sam@example.com"]["changes"] == (
        "email : (none) → changed to sam@example.com role : (none) → changed to viewer"
    )
    assert by_what["removed the user User sam@example.com"]["changes"] == (
        "email : sam@example.com → changed to (none) role : admin → changed to (none)"
    )
    assert rows[1]["changes"] == "state : active → changed to revoked"
    assert rows[2]["changes"] == f"prefix : (none) → changed to {token[:10]}"
    assert "state : pending → changed to (none)" in rows[0]["changes"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", rows[0]["when"])
    page = (await admin.get(AUDIT)).text
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">', page)
    # Never the secret; never the customer's address of a cancelled request.
    assert token not in page and "kate@example.com" not in page

    # As recorded: who, through the console, in this account only.
    recorded = await events_of(app, account.id)
    assert [e["action"] for e in recorded] == [
        "feedback_request.cancelled",
        "token.revoked",
        "token.created",
        "user.removed",
        "user.role_changed",
        "user.invited",
    ]
    assert {(e["actor"], e["via"], e["actor_user_id"]) for e in recorded} == {
        (me, "console", admin.user["id"])  # type: ignore[attr-defined]
    }
    assert not any(token in str(e) for e in recorded)


async def test_cli_changes_are_logged_as_the_operating_system_user(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, db_url: str, tmp_path: Path
) -> None:
    async def cli(*args: str) -> str:
        result = await run_cli(*args, db_url=db_url, cwd=tmp_path)
        assert result.returncode == 0, result.describe()
        return result.stdout

    acme = ("--account", str(account.id))
    body = tmp_path / "body.txt"
    body.write_text("Hello {{ first_name }},\n\nHow did we do?\n<b>Thanks</b>\n", encoding="utf-8")
    staff = tmp_path / "staff.csv"
    staff.write_text("code,name,team\nluke,Luke S,Support\n", encoding="utf-8")
    template = ("--name", "Welcome", "--subject", "Hi", "--body-file", str(body), "--json")
    made, token_out, *_ = await asyncio.gather(
        cli("templates", "create", *acme, *template),
        cli("tokens", "create", *acme, "--json"),
        cli("staff", "create", *acme, "--code", "ana", "--name", "Ana Lopez"),
        cli("segments", "create", *acme, "--key", "region"),
        cli("unsubscribes", "add", *acme, "Gone@Example.com"),
        cli("users", "create", *acme, "--email", "ops@example.com", "--role", "viewer"),
        cli("staff", "import", *acme, str(staff)),
        cli("staff", "import", *acme, str(staff), "--dry-run"),
    )
    template_id = str(json.loads(made)["id"])
    token = json.loads(token_out)["token"]
    body.write_text("Hello again,\n\n{{ survey_link }}\n", encoding="utf-8")
    await asyncio.gather(
        cli("templates", "update", template_id, *acme, "--body-file", str(body)),
        cli("staff", "update", "ana", *acme, "--name", "Ana López", "--team", "Support"),
        cli("segments", "delete", "region", *acme),
        cli("unsubscribes", "remove", *acme, "gone@example.com"),
        cli("users", "update", *acme, "--email", "ops@example.com", "--role", "admin"),
        cli("tokens", "revoke", token),
    )

    recorded = await events_of(app, account.id)
    who = getpass.getuser()
    assert {(e["actor"], e["via"], e["actor_user_id"]) for e in recorded} == {(who, "cli", None)}
    actions = sorted(e["action"] for e in recorded)
    assert actions == sorted(
        [
            "template.created",
            "token.created",
            "staff.created",
            "segment.created",
            "unsubscribe.added",
            "user.created",
            "staff.imported",  # the dry run is not a change
            "template.updated",
            "staff.updated",
            "segment.deleted",
            "unsubscribe.removed",
            "user.role_changed",
            "token.revoked",
        ]
    )
    by_action = {e["action"]: e for e in recorded}
    assert by_action["staff.updated"]["subject"] == "Staff ana (Ana López)"
    assert audit.changes(by_action["staff.updated"]["before"], by_action["staff.updated"]["after"])[
        :2
    ] == [
        {"field": "name", "before": "Ana Lopez", "after": "Ana López"},
        {"field": "team", "before": None, "after": "Support"},
    ]
    assert by_action["user.role_changed"]["before"] == {
        "email": "ops@example.com",
        "role": "viewer",
    }
    assert by_action["user.role_changed"]["after"] == {"email": "ops@example.com", "role": "admin"}
    assert by_action["token.created"]["after"] == {"prefix": token[:10]}
    assert by_action["segment.deleted"]["after"] is None
    assert by_action["unsubscribe.removed"]["before"] == {"email": "gone@example.com"}
    assert by_action["staff.imported"]["after"]["created"] == ["luke"]
    assert not any(token in str(e) for e in recorded)
    assert not any("password_link" in str(e) or "set-password" in str(e) for e in recorded)

    page = await admin.get(AUDIT)
    rows = shown_events(page)
    assert {r["who"] for r in rows} == {f"{who} (command line)"}
    update = next(r for r in rows if r["what"].startswith("updated the e-mail template"))
    assert update["what"] == f"updated the e-mail template Template {template_id} (Welcome)"
    # The body is long: folded in a <details>, as written (escaped), before and after.
    folded = re.search(rf'<tr id="event-{update["id"]}">.*?</tr>', page.text, re.S)
    assert folded and "<details>" in folded[0]
    assert (
        "<pre>Hello {{ first_name }},\n\nHow did we do?\n&lt;b&gt;Thanks&lt;/b&gt;\n</pre>"
        in (folded[0])
    )
    assert "<pre>Hello again,\n\n{{ survey_link }}\n</pre>" in folded[0]

    # A new account's creation is in its own log.
    created = json.loads(await cli("accounts", "create", "Audited Co", "--json"))
    first = await events_of(app, created["id"])
    assert [(e["action"], e["subject"], e["after"]) for e in first] == [
        (
            "account.created",
            f"Account {created['id']} (Audited Co)",
            {"name": "Audited Co", "min_interval_days": 0},
        )
    ]
    assert created["token"] not in str(first)


async def test_a_viewer_may_not_read_the_log(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient
) -> None:
    response = await viewer.get(AUDIT)
    assert response.status_code == 403
    assert "Audit log" not in response.text
    assert 'href="/app/settings/audit"' not in (await viewer.get("/app/account")).text


async def test_another_accounts_events_never_show(
    app: FastAPI, account: Account, other_account: Account, admin: httpx.AsyncClient
) -> None:
    async with session_of(app, other_account, "admin") as other_admin:
        assert (await post(other_admin, TOKENS, TOKENS)).status_code == 200
        await add_user(app, other_account, email="their-secret-user@example.com")
        made = await post(other_admin, USERS, USERS, email="theirs@example.com", role="viewer")
        assert made.status_code == 200
        theirs = shown_events(await other_admin.get(AUDIT))
        assert len(theirs) == 2
    assert (await post(admin, TOKENS, TOKENS)).status_code == 200
    mine = await admin.get(AUDIT)
    assert [r["what"][:35] for r in shown_events(mine)] == ["created the API token API token os_"]
    assert "theirs@example.com" not in mine.text
    # Not even by a cursor past their events, nor a filter by a kind only they have.
    for query in (f"?before={theirs[0]['id'] + 1}", "?subject_type=user"):
        page = await admin.get(AUDIT + query)
        assert {r["id"] for r in shown_events(page)}.isdisjoint({t["id"] for t in theirs})
        assert "theirs@example.com" not in page.text


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def test_hostile_strings_render_as_text(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    actor = audit.Actor(label=f"{HOSTILE}@example.com", via="console", user_id=1)
    async with app.state.engine.begin() as conn:
        await audit.record(
            conn,
            account.id,
            actor,
            "survey.<b>bold</b>",
            subject_type="survey",
            subject_id=1,
            subject=f"Survey {HOSTILE}",
            before={"name": HOSTILE, HOSTILE: "short"},
            after={"name": "fine", "body": HOSTILE + "</pre></details>" + "x" * 200},
        )
        await audit.record(
            conn,
            account.id,
            audit.Actor(label=HOSTILE, via="cli"),
            "staff.created",
            subject_type=HOSTILE[:30],
            subject_id=None,
            subject="Staff x",
            after={"name": HOSTILE},
        )
    page = await admin.get(AUDIT)
    assert page.status_code == 200
    assert "<script>" not in page.text and "<img" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    assert "&lt;/pre&gt;&lt;/details&gt;" in page.text
    rows = shown_events(page)
    assert rows[0]["who"] == f"{HOSTILE} (command line)"
    assert rows[1]["who"] == f"{HOSTILE}@example.com"
    assert rows[1]["what"] == f"<b>bold</b> the survey Survey {HOSTILE}"
    assert "&lt;b&gt;bold&lt;/b&gt; the survey" in page.text
    # The hostile kind is offered in the filter as text, and filters as typed.
    assert '<option value="&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;im">' in page.text
    filtered = await admin.get(AUDIT, params={"subject_type": HOSTILE[:30]})
    assert [r["who"] for r in shown_events(filtered)] == [f"{HOSTILE} (command line)"]


async def test_fifty_a_page_newest_first_with_a_filter(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    cli = audit.cli_actor()
    async with app.state.engine.begin() as conn:
        for n in range(1, 121):
            kind = "staff" if n % 2 else "site"
            await audit.record(
                conn,
                account.id,
                cli,
                f"{kind}.created",
                subject_type=kind,
                subject_id=n,
                subject=f"Thing {n}",
                after={"n": n},
            )
    first = await admin.get(AUDIT)
    rows = shown_events(first)
    assert [r["what"].split("Thing ")[1] for r in rows] == [str(n) for n in range(120, 70, -1)]
    older = re.search(r'<a href="([^"]+)" rel="next">Older</a>', first.text)
    assert older and "Newest" not in first.text.split('aria-label="Pages"')[1]
    second = await admin.get(html.unescape(older[1]))
    assert [r["what"].split("Thing ")[1] for r in shown_events(second)] == [
        str(n) for n in range(70, 20, -1)
    ]
    third_link = re.search(r'<a href="([^"]+)" rel="next">Older</a>', second.text)
    assert third_link
    third = await admin.get(html.unescape(third_link[1]))
    assert [r["what"].split("Thing ")[1] for r in shown_events(third)] == [
        str(n) for n in range(20, 0, -1)
    ]
    assert 'rel="next"' not in third.text and ">Newest</a>" in third.text

    # The filter: staff only (the odd ones), and it stays on the Older link.
    staff = await admin.get(AUDIT, params={"subject_type": "staff"})
    assert '<option value="staff" selected>Staff</option>' in staff.text
    assert [r["what"].split("Thing ")[1] for r in shown_events(staff)] == [
        str(n) for n in range(119, 19, -2)
    ]
    staff_older = re.search(r'<a href="([^"]+)" rel="next">Older</a>', staff.text)
    assert staff_older and "subject_type=staff" in staff_older[1]
    rest = shown_events(await admin.get(html.unescape(staff_older[1])))
    assert [r["what"].split("Thing ")[1] for r in rest] == [str(n) for n in range(19, 0, -2)]
    # A nonsense cursor or kind shows the newest page of everything.
    for query in ("?before=abc", "?subject_type=nothing"):
        assert shown_events(await admin.get(AUDIT + query))[0]["what"].endswith("Thing 120")


# ---- token last used ----------------------------------------------------------------------


def token_rows(page: httpx.Response) -> dict[str, str]:
    """Prefix → the Last used cell, as text."""
    rows = {}
    for body in re.findall(r'<tr id="token-\d+">(.*?)</tr>', page.text, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
        prefix = re.sub(r"<[^>]+>", "", cells[0]).rstrip("…")
        rows[prefix] = " ".join(re.sub(r"<[^>]+>", " ", cells[3]).split())
    return rows


async def test_an_api_call_sets_the_tokens_last_used_time(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, db_url: str, tmp_path: Path
) -> None:
    made = await post(admin, TOKENS, TOKENS)
    unused = html.unescape(re.findall(r'<code class="secret">([^<]+)</code>', made.text)[0])
    before = token_rows(await admin.get(TOKENS))
    assert before == {account.token[:10]: "Never", unused[:10]: "Never"}

    assert (await account.get("/feedback_requests")).status_code == 200
    await app.state.tokens.settle()
    after = token_rows(await admin.get(TOKENS))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", after[account.token[:10]])
    assert after[unused[:10]] == "Never"
    assert '<th scope="col">Last used</th>' in (await admin.get(TOKENS)).text

    listed = await run_cli(
        "tokens", "list", "--account", str(account.id), "--json", db_url=db_url, cwd=tmp_path
    )
    assert listed.returncode == 0, listed.describe()
    by_prefix = {t["prefix"]: t for t in listed.json()}
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", by_prefix[account.token[:10]]["last_used_at"]
    )
    assert by_prefix[unused[:10]]["last_used_at"] is None


async def test_last_used_is_written_once_a_minute_in_the_background() -> None:
    written: list[list[str]] = []
    gate = asyncio.Event()

    async def lookup(digest: str) -> tuple[int, str] | None:
        return (7, digest)

    async def touch(digests: list[str], now: Any) -> None:
        await gate.wait()  # a slow database: no API call waits for it
        written.append(digests)

    cache = TokenCache(lookup, ttl=5.0, touch=touch, touch_every=0.2)
    for _ in range(100):
        assert await asyncio.wait_for(cache.account_id("token-a"), 0.1) == 7
    assert await cache.account_id("token-b") == 7
    gate.set()
    await cache.settle()
    # The first write took token-a; token-b, used meanwhile, went in the next one.
    assert written == [[hash_token("token-a")], [hash_token("token-b")]]
    for _ in range(50):
        await cache.account_id("token-a")
    await cache.settle()
    assert len(written) == 2  # within the interval: nothing more
    await asyncio.sleep(0.25)
    await cache.account_id("token-a")
    await cache.settle()
    assert written[2:] == [[hash_token("token-a")]]
