"""The programme's settings in the console (/app/settings/staff, segments, sites, unsubscribes,
import): an admin lists, adds, changes and deletes through the services the CLI and the API
use, on SQLite and PostgreSQL; viewers read but change nothing; other accounts' objects are
404; every change is in the audit log."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from markupsafe import escape
from sqlalchemy import text

from opensure.accounts import service as accounts
from opensure.audit import service as audit
from opensure.core.errors import AdminError
from opensure.sites import service as sites
from tests.api.helpers import create_request
from tests.conftest import Account
from tests.console.conftest import csrf, form_with_action
from tests.console.test_settings import post

STAFF = "/app/settings/staff"
SEGMENTS = "/app/settings/segments"
SITES = "/app/settings/sites"
UNSUBSCRIBES = "/app/settings/unsubscribes"
IMPORT = "/app/settings/import"
ADD = f"{UNSUBSCRIBES}/add"


async def events(app: FastAPI, account: Account) -> list[dict[str, Any]]:
    async with app.state.engine.connect() as conn:
        return await audit.events(conn, account.id)


async def in_db(app: FastAPI, work: Any) -> Any:
    async with app.state.engine.begin() as conn:
        return await work(conn)


def cells(page: httpx.Response, row_id: str) -> list[str]:
    """The text of each cell of the table row with this id."""
    found = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', page.text, re.S)
    assert found, f"no row {row_id}"
    raw = re.findall(r"<td[^>]*>(.*?)</td>", found[1], re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in raw]


def options(page: httpx.Response, row_id: str) -> list[str]:
    found = re.search(rf'<tr id="{row_id}">(.*?)</tr>', page.text, re.S)
    assert found, f"no row {row_id}"
    return [html.unescape(o) for o in re.findall(r"<li><bdi>([^<]*)</bdi></li>", found[1])]


def staff_rows(page: httpx.Response) -> dict[str, list[str]]:
    ids = re.findall(r'<tr id="(staff-\d+)">', page.text)
    return {cells(page, i)[0]: cells(page, i)[1:] for i in ids}


async def staff_of(app: FastAPI, account: Account) -> dict[str, dict[str, Any]]:
    rows = await in_db(app, lambda c: accounts.list_staff(c, account.id))
    return {r["code"]: r for r in rows}


def problem_text(page: httpx.Response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page.text))


# ---- staff and teams ------------------------------------------------------------------------


async def test_staff_page_lists_staff_and_teams_of_this_account_only(
    app: FastAPI, account: Account, other_account: Account, admin: httpx.AsyncClient
) -> None:
    async def seed(conn: Any) -> None:
        await accounts.create_staff(conn, account.id, code="ana", name="Ana López", team="Support")
        await accounts.create_staff(conn, account.id, code="ben", name="Ben <b>", team=None)
        await accounts.create_staff(conn, other_account.id, code="zed", name="Zed", team="Other")

    await in_db(app, seed)
    page = await admin.get(STAFF)
    assert page.status_code == 200
    assert staff_rows(page) == {"ana": ["Ana López", "Support"], "ben": ["Ben <b>", "No team"]}
    assert "Ben &lt;b&gt;" in page.text
    teams = re.findall(
        r'<tr id="team-\d+">\s*<td><bdi>([^<]+)</bdi></td>\s*<td[^>]*>(\d+)', page.text
    )
    assert teams == [("Support", "1")]
    assert 'href="/app/settings/staff" aria-current="page"' in page.text


async def test_an_admin_adds_changes_and_deletes_a_staff_member(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    added = await post(admin, STAFF, STAFF, code="ana", name="Ana Lopez", team="Support")
    assert added.status_code == 303
    page = await admin.get(added.headers["location"])
    assert "The staff member is added." in page.text
    assert staff_rows(page) == {"ana": ["Ana Lopez", "Support"]}
    ana = (await staff_of(app, account))["ana"]

    edit = f"{STAFF}/{ana['id']}"
    changed = await post(admin, edit, edit, code="ana.l", name="Ana López", team="Sales")
    assert changed.status_code == 303
    assert (await staff_of(app, account))["ana.l"]["team"] == "Sales"

    gone = await post(admin, edit, f"{edit}/delete")
    assert gone.status_code == 303
    page = await admin.get(gone.headers["location"])
    assert "The staff member is deleted" in page.text
    assert await staff_of(app, account) == {}
    # Both teams stay, empty (as the CLI leaves them).
    assert re.findall(r'<tr id="team-\d+">\s*<td><bdi>([^<]+)', page.text) == ["Sales", "Support"]

    log = [(e["action"], e["subject"], e["before"], e["after"]) for e in await events(app, account)]
    ana_l = {"code": "ana.l", "name": "Ana López", "team": "Sales"}
    first = {"code": "ana", "name": "Ana Lopez", "team": "Support"}
    assert log == [
        ("staff.deleted", "Staff ana.l (Ana López)", ana_l, None),
        ("staff.updated", "Staff ana.l (Ana López)", first, ana_l),
        ("team.created", "Team Sales", None, {"name": "Sales"}),
        ("staff.created", "Staff ana (Ana Lopez)", None, first),
        ("team.created", "Team Support", None, {"name": "Support"}),
    ]
    assert all(e["via"] == "console" for e in await events(app, account))


async def test_bad_staff_input_is_refused_beside_its_field_and_changes_nothing(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    await in_db(
        app, lambda c: accounts.create_staff(c, account.id, code="ana", name="A", team=None)
    )
    empty = await post(admin, STAFF, STAFF, code="", name="Someone", team="New team")
    assert empty.status_code == 422
    assert '<p class="error" id="e-code">required</p>' in empty.text
    assert 'aria-describedby="h-code e-code" aria-invalid="true"' in empty.text
    assert 'value="Someone"' in empty.text and 'value="New team"' in empty.text

    taken = await post(admin, STAFF, STAFF, code="ana", name="Other Ana", team="New team")
    assert taken.status_code == 422
    assert "staff code &#39;ana&#39; is already taken in this account" in taken.text

    too_long = await post(admin, STAFF, STAFF, code="x", name="n" * 201, team="")
    assert too_long.status_code == 422
    assert "longer than 200 characters" in too_long.text

    ana = (await staff_of(app, account))["ana"]
    edit = f"{STAFF}/{ana['id']}"
    await in_db(
        app, lambda c: accounts.create_staff(c, account.id, code="ben", name="B", team=None)
    )
    clash = await post(admin, edit, edit, code="ben")
    assert clash.status_code == 422
    assert "staff code &#39;ben&#39; is already taken" in clash.text

    assert (await staff_of(app, account))["ana"] == ana
    assert await in_db(app, lambda c: accounts.list_teams(c, account.id)) == []
    assert [e["action"] for e in await events(app, account)] == []


# ---- segments ---------------------------------------------------------------------------------


async def test_segments_show_the_options_seen_and_are_added_renamed_and_deleted(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    added = await post(admin, SEGMENTS, SEGMENTS, key="product")
    assert added.status_code == 303
    for value in ("Web", "App"):
        await create_request(account, data=[{"key": "product", "value": value}])
    page = await admin.get(SEGMENTS)
    segment = (await in_db(app, lambda c: accounts.list_segments(c, account.id)))[0]
    row = f"segment-{segment['id']}"
    assert cells(page, row)[0] == "product"
    assert options(page, row) == ["App", "Web"]

    action = f"{SEGMENTS}/{segment['id']}"
    renamed = await post(admin, SEGMENTS, action, key="channel")
    assert renamed.status_code == 303
    shown = await admin.get(renamed.headers["location"])
    assert "The segment&#39;s key is changed." in shown.text
    assert cells(shown, row)[0] == "channel"
    assert options(shown, row) == ["App", "Web"]  # the options stay

    gone = await post(admin, SEGMENTS, f"{action}/delete")
    assert gone.status_code == 303
    assert await in_db(app, lambda c: accounts.list_segments(c, account.id)) == []
    log = [(e["action"], e["before"], e["after"]) for e in await events(app, account)]
    assert log == [
        ("segment.deleted", {"key": "channel", "options": ["App", "Web"]}, None),
        ("segment.updated", {"key": "product"}, {"key": "channel"}),
        ("segment.created", None, {"key": "product"}),
    ]


async def test_bad_segment_keys_are_refused_and_change_nothing(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    reserved = await post(admin, SEGMENTS, SEGMENTS, key="staff_code")
    assert reserved.status_code == 422
    assert "&#39;staff_code&#39; is reserved for linking staff and sites" in reserved.text
    assert 'value="staff_code"' in reserved.text
    await post(admin, SEGMENTS, SEGMENTS, key="product")
    await post(admin, SEGMENTS, SEGMENTS, key="region")
    segs = await in_db(app, lambda c: accounts.list_segments(c, account.id))
    region = next(s for s in segs if s["key"] == "region")
    clash = await post(admin, SEGMENTS, f"{SEGMENTS}/{region['id']}", key="product")
    assert clash.status_code == 422
    assert "segment &#39;product&#39; already exists in this account" in clash.text
    assert 'aria-describedby="segment-problem" aria-invalid="true"' in clash.text
    assert await in_db(app, lambda c: accounts.list_segments(c, account.id)) == segs
    assert len(await events(app, account)) == 2


# ---- sites ----------------------------------------------------------------------------------


async def test_an_admin_adds_renames_and_deletes_a_site_with_the_apis_rules(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    added = await post(
        admin,
        SITES,
        SITES,
        site_code="hq",
        name="Head Office",
        city="Newcastle",
        region="Tyne and Wear",
        country_code="gb",
    )
    assert added.status_code == 303
    api = await account.get("/sites/hq")
    assert api.json()["country_code"] == "GB"
    page = await admin.get(SITES)
    assert cells(page, "site-hq") == ["Head Office", "hq", "Newcastle, Tyne and Wear, GB", "None"]

    edit = f"{SITES}/hq"
    renamed = await post(admin, edit, edit, site_code="head-office")
    assert renamed.status_code == 303
    page = await admin.get(SITES)
    assert cells(page, "site-head-office")[1:] == [
        "head-office",
        "Newcastle, Tyne and Wear, GB",
        "hq",
    ]
    # The old code redirects, as after PATCH /sites/hq.
    moved = await account.get("/sites/hq", follow_redirects=False)
    assert moved.status_code == 301 and moved.headers["location"].endswith("/sites/head-office")
    assert (await admin.get(edit)).status_code == 404

    deleted = await post(admin, f"{SITES}/head-office", f"{SITES}/head-office/delete")
    assert deleted.status_code == 303
    assert (await account.get("/sites/head-office")).status_code == 404
    log = [(e["action"], e["subject"]) for e in await events(app, account)]
    assert log == [
        ("site.deleted", "Site head-office (Head Office)"),
        ("site.updated", "Site head-office (Head Office)"),
        ("site.created", "Site hq (Head Office)"),
    ]
    updated = (await events(app, account))[1]
    assert updated["changes"] == [{"field": "site_code", "before": "hq", "after": "head-office"}]


async def test_a_rename_clash_is_refused_with_the_apis_message(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    for code in ("a", "b"):
        r = await account.post("/sites", json={"site_code": code, "name": code.upper()})
        assert r.status_code == 201, r.text
    api = await account.patch("/sites/a", json={"site_code": "b"})
    assert api.status_code == 422
    message = api.json()["errors"][0]["extra_info"]["message"]
    assert message == "site_code 'b' is already used by another site"

    console = await post(admin, f"{SITES}/a", f"{SITES}/a", site_code="b")
    assert console.status_code == 422
    assert f'<p class="error" id="e-site_code">{escape(message)}</p>' in console.text
    assert 'value="b"' in console.text
    assert (await account.get("/sites/a")).json()["name"] == "A"
    assert await events(app, account) == []


async def test_bad_site_input_is_refused_beside_its_fields(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    bad = await post(
        admin, SITES, SITES, site_code="no spaces", name="", country_code="ZZ", region=""
    )
    assert bad.status_code == 422
    text = problem_text(bad)
    assert "Site code: must match" in text
    assert "Name: required" in text
    assert "Country code: not an ISO 3166-1 alpha-2 country code" in text
    assert 'id="e-name"' in bad.text and 'id="e-site_code"' in bad.text
    no_region = await post(admin, SITES, SITES, site_code="x", name="X", country_code="GB")
    assert no_region.status_code == 422
    assert "region is required when country_code is given" in no_region.text
    assert await in_db(app, lambda c: sites.list_all(c, account.id)) == []


# ---- unsubscribes ---------------------------------------------------------------------------


async def test_unsubscribes_are_listed_newest_first_searched_and_paged(
    app: FastAPI, account: Account, other_account: Account, admin: httpx.AsyncClient
) -> None:
    async def seed(conn: Any) -> None:
        for i in range(55):
            await accounts.add_unsubscribe(conn, account.id, f"c{i:02}@example.com")
        await accounts.add_unsubscribe(conn, other_account.id, "stranger@example.com")

    await in_db(app, seed)
    first = await admin.get(UNSUBSCRIBES)
    listed = re.findall(r"<bdi>([^<]+@example.com)</bdi>", first.text)
    # Each address appears twice (the row and its confirmation); newest first.
    assert listed[0] == "c54@example.com" and "stranger@example.com" not in listed
    assert len(set(listed)) == 50
    assert "Page 1 of 2" in first.text
    second = await admin.get(UNSUBSCRIBES + "?page=2")
    assert sorted(set(re.findall(r"<bdi>([^<]+@example.com)</bdi>", second.text))) == [
        f"c{i:02}@example.com" for i in range(5)
    ]
    found = await admin.get(UNSUBSCRIBES, params={"q": "C1"})
    assert sorted(set(re.findall(r"<bdi>([^<]+@example.com)</bdi>", found.text))) == [
        f"c{i}@example.com" for i in range(10, 20)
    ]
    assert (await admin.get(UNSUBSCRIBES + "?page=0")).status_code == 422


async def test_an_admin_adds_and_removes_an_address(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    added = await post(admin, UNSUBSCRIBES, ADD, email=" Kate@Example.COM ")
    assert added.status_code == 303
    page = await admin.get(added.headers["location"])
    assert "it is sent no more surveys" in page.text
    assert "<bdi>kate@example.com</bdi>" in page.text
    again = await post(admin, UNSUBSCRIBES, ADD, email="kate@example.com")
    assert "already" in (await admin.get(again.headers["location"])).text

    bad = await post(admin, UNSUBSCRIBES, ADD, email="not an address")
    assert bad.status_code == 422
    assert "is not a valid e-mail address" in bad.text and 'value="not an address"' in bad.text

    page = await admin.get(UNSUBSCRIBES)
    fields = form_with_action(page.text, f"{UNSUBSCRIBES}/remove")
    assert fields["email"] == "kate@example.com"
    removed = await admin.post(f"{UNSUBSCRIBES}/remove", data=fields)
    assert removed.status_code == 303
    assert await in_db(app, lambda c: accounts.list_unsubscribes(c, account.id)) == []
    log = [(e["action"], e["subject"]) for e in await events(app, account)]
    assert log == [
        ("unsubscribe.removed", "kate@example.com"),
        ("unsubscribe.added", "kate@example.com"),
    ]


# ---- roles and accounts ---------------------------------------------------------------------


async def test_a_viewer_reads_every_list_but_changes_nothing(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, viewer: httpx.AsyncClient
) -> None:
    async def seed(conn: Any) -> dict[str, Any]:
        staff = await accounts.create_staff(conn, account.id, code="ana", name="Ana", team=None)
        segment = await accounts.create_segment(conn, account.id, key="product")
        await sites.admin_create(conn, account.id, {"site_code": "hq", "name": "HQ"})
        await accounts.add_unsubscribe(conn, account.id, "kate@example.com")
        return {"staff": staff["id"], "segment": segment["id"]}

    ids = await in_db(app, seed)
    for path in (
        STAFF,
        f"{STAFF}/{ids['staff']}",
        SEGMENTS,
        SITES,
        f"{SITES}/hq",
        UNSUBSCRIBES,
        IMPORT,
    ):
        page = await viewer.get(path)
        assert page.status_code == 200, path
        assert "(viewer) lets you read" in page.text, path
        assert 'method="post" action="/app/settings' not in page.text, path
    assert "Ana" in (await viewer.get(STAFF)).text

    token = await csrf(viewer, STAFF)
    posts = {
        STAFF: {"code": "x", "name": "X"},
        f"{STAFF}/{ids['staff']}": {"code": "y", "name": "Y"},
        f"{STAFF}/{ids['staff']}/delete": {},
        SEGMENTS: {"key": "k"},
        f"{SEGMENTS}/{ids['segment']}": {"key": "k"},
        f"{SEGMENTS}/{ids['segment']}/delete": {},
        SITES: {"site_code": "x", "name": "X"},
        f"{SITES}/hq": {"site_code": "hq", "name": "Y"},
        f"{SITES}/hq/delete": {},
        ADD: {"email": "a@example.com"},
        f"{UNSUBSCRIBES}/remove": {"email": "kate@example.com"},
    }
    for path, data in posts.items():
        r = await viewer.post(path, data={"csrf_token": token, **data})
        assert r.status_code == 403, path
        assert "lets you read and export, not change" in r.text
    for kind in ("sites", "staff"):
        r = await viewer.post(
            f"{IMPORT}/{kind}",
            data={"csrf_token": token, "action": "import"},
            files={"file": ("x.csv", b"code,name\nzz,Z\n", "text/csv")},
        )
        assert r.status_code == 403
    assert [s["code"] for s in await in_db(app, lambda c: accounts.list_staff(c, account.id))] == [
        "ana"
    ]
    assert [s["site_code"] for s in await in_db(app, lambda c: sites.list_all(c, account.id))] == [
        "hq"
    ]
    assert len(await in_db(app, lambda c: accounts.list_segments(c, account.id))) == 1
    assert len(await in_db(app, lambda c: accounts.list_unsubscribes(c, account.id))) == 1
    assert await events(app, account) == []


async def test_another_accounts_objects_are_not_found(
    app: FastAPI, account: Account, other_account: Account, admin: httpx.AsyncClient
) -> None:
    async def seed(conn: Any) -> dict[str, Any]:
        staff = await accounts.create_staff(conn, other_account.id, code="z", name="Z", team=None)
        segment = await accounts.create_segment(conn, other_account.id, key="product")
        await sites.admin_create(conn, other_account.id, {"site_code": "theirs", "name": "T"})
        await accounts.add_unsubscribe(conn, other_account.id, "theirs@example.com")
        return {"staff": staff["id"], "segment": segment["id"]}

    ids = await in_db(app, seed)
    for path in (f"{STAFF}/{ids['staff']}", f"{SITES}/theirs", f"{STAFF}/abc"):
        page = await admin.get(path)
        assert page.status_code == 404, path
        assert "There is nothing here in this account." in page.text
    token = await csrf(admin, STAFF)
    for path, data in {
        f"{STAFF}/{ids['staff']}": {"code": "mine", "name": "Mine"},
        f"{STAFF}/{ids['staff']}/delete": {},
        f"{SEGMENTS}/{ids['segment']}": {"key": "mine"},
        f"{SEGMENTS}/{ids['segment']}/delete": {},
        f"{SITES}/theirs": {"site_code": "theirs", "name": "Mine"},
        f"{SITES}/theirs/delete": {},
        f"{UNSUBSCRIBES}/remove": {"email": "theirs@example.com"},
    }.items():
        r = await admin.post(path, data={"csrf_token": token, **data})
        assert r.status_code == 404, path
    theirs = await in_db(app, lambda c: accounts.list_staff(c, other_account.id))
    assert [s["code"] for s in theirs] == ["z"]
    assert (await in_db(app, lambda c: sites.list_all(c, other_account.id)))[0]["name"] == "T"
    segs = await in_db(app, lambda c: accounts.list_segments(c, other_account.id))
    assert [s["key"] for s in segs] == ["product"]
    assert len(await in_db(app, lambda c: accounts.list_unsubscribes(c, other_account.id))) == 1


# ---- CSV import -----------------------------------------------------------------------------


async def upload(
    client: httpx.AsyncClient, kind: str, content: bytes, action: str, name: str = "list.csv"
) -> httpx.Response:
    page = await client.get(IMPORT)
    fields = form_with_action(page.text, f"{IMPORT}/{kind}")
    fields.pop("file", None)
    fields["action"] = action
    return await client.post(
        f"{IMPORT}/{kind}", data=fields, files={"file": (name, content, "text/csv")}
    )


BAD_SITES = (
    b"site_code,name,city,region,country_code\n"
    b"hq,Head Office,Newcastle,Tyne and Wear,GB\n"
    b"bad code,Leeds,,,\n"
    b"x,No region,,,FR\n"
)
GOOD_SITES = (
    "site_code,name,city,region,country_code\r\n"
    "hq,Head Office,Newcastle,Tyne and Wear,GB\r\n"
    "leeds,Leeds Störe,Leeds,West Yorkshire,GB\r\n"
).encode()


def problem_rows(page: httpx.Response) -> list[tuple[str, str]]:
    section = re.search(
        r'<section class="error"[^>]*id="import-problems".*?</section>', page.text, re.S
    )
    assert section, "no problems table"
    return [
        (line, html.unescape(message))
        for line, message in re.findall(
            r'<tr><td class="num">(\d+)</td><td class="wrap">(.*?)</td></tr>', section[0], re.S
        )
    ]


async def test_a_dry_run_lists_every_problem_by_line_and_imports_nothing(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    for action in ("check", "import"):
        page = await upload(admin, "sites", BAD_SITES, action)
        assert page.status_code == 422
        assert "Nothing imported: 2 problems in" in page.text
        assert problem_rows(page) == [
            ("3", "site_code: must match ^[A-Za-z0-9._~-]{1,50}$"),
            ("4", "region: region is required when country_code is given"),
        ]
    staff = await upload(
        admin, "staff", b"code,name,team\nana,Ana,\nana,Again,\n,NoCode,\n", "check"
    )
    assert staff.status_code == 422
    assert problem_rows(staff) == [
        ("3", "code: 'ana' is on line 2 too"),
        ("4", "code: required"),
    ]
    header = await upload(admin, "staff", b"who,name\nana,Ana\n", "check")
    assert problem_rows(header)[0][0] == "1"
    assert "unknown column &#39;who&#39;" in header.text

    fine = await upload(admin, "sites", GOOD_SITES, "check", name="sites.csv")
    assert fine.status_code == 200
    assert "2 rows are fine" in fine.text and "Nothing is imported yet" in fine.text
    assert await in_db(app, lambda c: sites.list_all(c, account.id)) == []
    assert await events(app, account) == []


async def test_a_good_csv_imports_sites_and_staff_with_teams(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    done = await upload(admin, "sites", b"\xef\xbb\xbf" + GOOD_SITES, "import", name="sites.csv")
    assert done.status_code == 200
    assert "2 rows imported" in done.text and "2 created, 0 replaced" in done.text
    listed = await in_db(app, lambda c: sites.list_all(c, account.id))
    assert [(s["site_code"], s["name"]) for s in listed] == [
        ("hq", "Head Office"),
        ("leeds", "Leeds Störe"),
    ]
    staff_csv = b"code,name,team\nana,Ana Lopez,Support\nben,Ben Okafor,Sales\ncy,Cy,\n"
    done = await upload(admin, "staff", staff_csv, "import", name="staff.csv")
    assert done.status_code == 200
    assert "3 rows imported" in done.text and "new teams: Sales, Support" in done.text
    page = await admin.get(STAFF)
    assert staff_rows(page) == {
        "ana": ["Ana Lopez", "Support"],
        "ben": ["Ben Okafor", "Sales"],
        "cy": ["Cy", "No team"],
    }
    log = [(e["action"], e["subject"], e["after"]) for e in await events(app, account)]
    assert log == [
        ("staff.imported", "3 staff from staff.csv", {"rows": 3}),
        ("sites.imported", "2 sites from sites.csv", {"rows": 2}),
    ]


async def test_an_upload_without_a_file_too_large_or_not_utf8_is_explained(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    token = await csrf(admin, IMPORT)
    none = await admin.post(
        f"{IMPORT}/sites",
        data={"csrf_token": token, "action": "check"},
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert none.status_code == 422
    assert "Choose a CSV file to check or import." in none.text
    latin = await upload(admin, "staff", "code,name\nana,Añez\n".encode("latin-1"), "import")
    assert latin.status_code == 422
    assert "not UTF-8 text" in latin.text
    big = await upload(
        admin, "sites", b"site_code,name\n" + b"x" * (2 * 1024 * 1024 + 100), "check"
    )
    assert big.status_code == 413
    assert "The file is larger than 2 MiB" in big.text
    huge = await upload(admin, "sites", b"site_code,name\n" + b"x" * (3 * 1024 * 1024), "check")
    assert huge.status_code == 413
    assert "The file is larger than 2 MiB" in huge.text
    assert await in_db(app, lambda c: sites.list_all(c, account.id)) == []


async def test_an_upload_without_the_forms_token_is_refused(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    for data in ({"action": "import"}, {"action": "import", "csrf_token": "forged"}):
        r = await admin.post(
            f"{IMPORT}/sites", data=data, files={"file": ("s.csv", GOOD_SITES, "text/csv")}
        )
        assert r.status_code == 403
    assert await in_db(app, lambda c: sites.list_all(c, account.id)) == []


async def test_an_admin_renames_a_team_and_deletes_an_empty_one(
    app: FastAPI, account: Account, other_account: Account, admin: httpx.AsyncClient
) -> None:
    await post(admin, STAFF, STAFF, code="ana", name="Ana Lopez", team="Support")
    await post(admin, STAFF, STAFF, code="ben", name="Ben Ode", team="Sales")
    teams = {t["name"]: t for t in await in_db(app, lambda c: accounts.list_teams(c, account.id))}
    support, sales = teams["Support"]["id"], teams["Sales"]["id"]

    renamed = await post(admin, STAFF, f"/app/settings/teams/{support}", name="Customer care")
    assert renamed.status_code == 303
    page = await admin.get(renamed.headers["location"])
    assert "The team is renamed" in page.text
    assert staff_rows(page)["ana"] == ["Ana Lopez", "Customer care"]

    # A clash, and a team that still has staff: refused beside the team, nothing changed.
    clash = await post(admin, STAFF, f"/app/settings/teams/{support}", name="Sales")
    assert clash.status_code == 422
    assert "a team named &#39;Sales&#39; already exists" in clash.text
    assert 'aria-describedby="team-problem"' in clash.text
    busy = await admin.post(
        f"/app/settings/teams/{sales}/delete", data={"csrf_token": await csrf(admin, STAFF)}
    )
    assert busy.status_code == 409 and "still has 1 staff member" in busy.text

    # Empty once Ben moves; then it may go.
    edit = f"{STAFF}/{(await staff_of(app, account))['ben']['id']}"
    await post(admin, edit, edit, team="Customer care")
    gone = await post(admin, STAFF, f"/app/settings/teams/{sales}/delete")
    assert gone.status_code == 303
    names = [t["name"] for t in await in_db(app, lambda c: accounts.list_teams(c, account.id))]
    assert names == ["Customer care"]
    log = [(e["action"], e["before"], e["after"]) for e in await events(app, account)]
    assert ("team.updated", {"name": "Support"}, {"name": "Customer care"}) in log
    assert ("team.deleted", {"name": "Sales"}, None) in log

    # Another account's team is not found.
    await in_db(
        app,
        lambda c: accounts.create_staff(c, other_account.id, code="x", name="X", team="Theirs"),
    )
    theirs = await in_db(app, lambda c: accounts.show_team(c, other_account.id, "Theirs"))
    token = await csrf(admin, STAFF)
    for path in (
        f"/app/settings/teams/{theirs['id']}",
        f"/app/settings/teams/{theirs['id']}/delete",
    ):
        r = await admin.post(path, data={"csrf_token": token, "name": "Mine"})
        assert r.status_code == 404, path


async def test_a_team_with_responses_is_renamed_never_deleted(
    app: FastAPI, account: Account
) -> None:
    made = await in_db(
        app, lambda c: accounts.create_staff(c, account.id, code="cy", name="Cy", team="Night")
    )
    await in_db(
        app, lambda c: accounts.update_staff(c, account.id, "cy", code=None, name=None, team="")
    )
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO feedback_responses (account_id, survey_id, team_id, submitted_at, "
                "updated_at) VALUES (:a, :s, :t, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            ),
            {"a": account.id, "s": account.survey_id, "t": made["team_id"]},
        )
    with pytest.raises(AdminError, match="has responses filed under it"):
        await in_db(app, lambda c: accounts.delete_team(c, account.id, "Night"))
