"""The console's surveys (issue 14 §1): the list, the builder (create, edit, move, add, remove),
archive, restore, duplicate and the preview page; each change a new version that leaves
earlier responses as they were answered; roles, isolation and the audit log. Both engines."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from opensure.audit import service as audit
from tests.conftest import Account
from tests.console.conftest import form_with_action, session_of
from tests.surveys.conftest import (
    create_request,
    make_survey,
    open_form,
    post_form,
)
from tests.surveys.html import parse


def builder_fields(html: str, action: str) -> list[tuple[str, str]]:
    """The builder form's fields as a browser would send them (in page order; checked boxes
    only; the first submit button's name left out)."""
    doc = parse(html)
    form = next(f for f in doc.find_all("form") if f.get("action") == action)
    fields: list[tuple[str, str]] = []
    for node in form.iter():
        name = node.get("name")
        if not name:
            continue
        if node.tag == "input":
            kind = node.get("type") or "text"
            if kind in ("checkbox", "radio") and "checked" not in node.attrs:
                continue
            if kind == "submit":
                continue
            fields.append((name, node.get("value") or ""))
        elif node.tag == "textarea":
            fields.append((name, node.text))
        elif node.tag == "select":
            chosen = [o for o in node.find_all("option") if "selected" in o.attrs]
            option = chosen[0] if chosen else node.find("option")
            fields.append((name, option.get("value") or ""))
    return fields


async def post_fields(
    client: httpx.AsyncClient, path: str, fields: list[tuple[str, str]]
) -> httpx.Response:
    """POST the fields form-encoded, in this order (the builder reads questions in order)."""
    return await client.post(
        path,
        content=urlencode(fields),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


def replace(fields: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    assert any(k == name for k, _ in fields), name
    return [(k, value if k == name else v) for k, v in fields]


async def events(app: FastAPI, account: Account) -> list[dict[str, Any]]:
    async with app.state.engine.connect() as conn:
        return await audit.events(conn, account.id)


async def test_an_admin_creates_a_survey_in_the_builder(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    page = await admin.get("/app/surveys/new")
    assert page.status_code == 200
    fields = builder_fields(page.text, "/app/surveys/new")
    fields = replace(fields, "name", "After your visit")
    # Add a radio question: the form comes back with a new, empty question; nothing saved.
    added = await post_fields(
        admin, "/app/surveys/new", [*fields, ("new_type", "radio"), ("add", "1")]
    )
    assert added.status_code == 200 and "Not saved yet" in added.text
    fields = builder_fields(added.text, "/app/surveys/new")
    radio_key = re.findall(r'name="q(\w+)\.text"', added.text)[-1]
    fields = replace(fields, f"q{radio_key}.text", "Was your room ready?")
    fields = replace(fields, f"q{radio_key}.options", "Yes\nNo\n\n")
    created = await post_fields(admin, "/app/surveys/new", [*fields, ("save", "1")])
    assert created.status_code == 303, created.text
    survey_id = int(created.headers["location"].split("/")[-1].split("?")[0])

    shown = await admin.get(created.headers["location"])
    assert "The survey is created" in shown.text and "version 1" in shown.text
    listing = await admin.get("/app/surveys")
    assert "After your visit" in listing.text and f"<code>{survey_id}</code>" in listing.text
    [event] = [e for e in await events(app, account) if e["action"] == "survey.created"]
    assert event["after"]["questions"][1] == {
        "id": event["after"]["questions"][1]["id"],
        "type": "radio",
        "text": "Was your room ready?",
        "options": ["Yes", "No"],
    }


async def test_bad_input_is_shown_beside_its_field_and_nothing_is_saved(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    path = f"/app/surveys/{account.survey_id}"
    page = await admin.get(path)
    fields = builder_fields(page.text, path)
    keys = re.findall(r'name="q(\w+)\.text"', page.text)
    fields = replace(fields, "name", "")
    fields = replace(fields, f"q{keys[0]}.text", "")
    r = await post_fields(admin, path, [*fields, ("save", "1")])
    assert r.status_code == 422
    doc = parse(r.text)
    assert doc.find("title").text.startswith("Error:")
    assert "Name: required" in doc.find(id="survey-name-error").text
    text_box = doc.find(id=f"q{keys[0]}-text")
    assert text_box.get("aria-describedby") == f"q{keys[0]}-text-error"
    assert "Question: required" in doc.find(id=f"q{keys[0]}-text-error").text
    assert [e for e in await events(app, account) if e["action"].startswith("survey.")] == []
    again = await admin.get(path)
    assert "version 1" in again.text


async def test_editing_keeps_earlier_responses_as_answered_in_the_console(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    survey = await make_survey(app, client)
    _, token = await create_request(app, survey.account)
    _, hidden = await open_form(client, survey.code, token)
    assert (
        await post_form(client, survey.code, {**hidden, **survey.good_answers()})
    ).status_code == 303
    [response] = (await survey.account.get("/feedback_responses")).json()

    async with session_of(app, survey.account) as admin:
        path = f"/app/surveys/{survey.account.survey_id}"
        fields = builder_fields((await admin.get(path)).text, path)
        fields = replace(fields, f"q{survey.radio}.text", "Did we solve it?")
        fields = replace(fields, f"q{survey.dropdown}.options", "App\nWeb\nPhone")
        fields.append((f"q{survey.checkbox}.remove", "1"))
        saved = await post_fields(admin, path, [*fields, ("save", "1")])
        assert saved.status_code == 303, saved.text
        after = await admin.get(saved.headers["location"])
        assert "Saved as a new version" in after.text and "version 2" in after.text
        assert "Did we solve it?" in after.text and "What did you like?" not in after.text

        shown = await admin.get(f"/app/responses/{response['id']}")
        assert shown.status_code == 200
        assert "Was your issue solved?" in shown.text and "Did we solve it?" not in shown.text
        assert "What did you like?" in shown.text and "Speed, Price" in shown.text
        [event] = [e for e in await events(app, survey.account) if e["action"] == "survey.updated"]
        assert event["before"]["version"] == 1 and event["after"]["version"] == 2
        assert {c["field"] for c in event["changes"]} == {"version", "questions"}


async def test_move_reorders_without_saving(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    path = f"/app/surveys/{account.survey_id}"
    page = await admin.get(path)
    keys = re.findall(r'name="q(\w+)\.text"', page.text)
    fields = builder_fields(page.text, path)
    moved = await post_fields(admin, path, [*fields, ("move", f"{keys[1]}:up")])
    assert moved.status_code == 200 and "Not saved yet" in moved.text
    assert re.findall(r'name="q(\w+)\.text"', moved.text) == [keys[1], keys[0], *keys[2:]]
    saved = await post_fields(admin, path, [*builder_fields(moved.text, path), ("save", "1")])
    assert saved.status_code == 303
    again = await admin.get(path)
    assert re.findall(r'name="q(\w+)\.text"', again.text) == [keys[1], keys[0], *keys[2:]]


async def test_archive_restore_and_duplicate(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    listing = await admin.get("/app/surveys")
    action = f"/app/surveys/{account.survey_id}/archive"
    r = await admin.post(action, data=form_with_action(listing.text, action))
    assert r.status_code == 303
    listing = await admin.get(r.headers["location"])
    assert "The survey is archived" in listing.text and "Archived" in listing.text
    assert (await admin.get(f"/app/surveys/{account.survey_id}/preview")).status_code == 200
    action = f"/app/surveys/{account.survey_id}/restore"
    r = await admin.post(action, data=form_with_action(listing.text, action))
    assert r.status_code == 303
    action = f"/app/surveys/{account.survey_id}/duplicate"
    listing = await admin.get("/app/surveys")
    r = await admin.post(action, data=form_with_action(listing.text, action))
    assert r.status_code == 303
    copy = await admin.get(r.headers["location"])
    assert "This is a copy" in copy.text
    kinds = [e["action"] for e in await events(app, account)]
    assert kinds == ["survey.created", "survey.restored", "survey.archived"]


async def test_the_preview_page_frames_the_survey_at_two_widths(
    account: Account, admin: httpx.AsyncClient
) -> None:
    page = await admin.get(f"/app/surveys/{account.survey_id}/preview")
    assert page.status_code == 200
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    frames = parse(page.text).find_all("iframe")
    code = account.survey["code"]
    assert [f.get("src") for f in frames] == [f"/s/{code}?preview=1"] * 2
    assert all(f.get("title") for f in frames)


async def test_a_viewer_reads_the_list_and_preview_but_changes_nothing(
    app: FastAPI, account: Account, viewer: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    listing = await viewer.get("/app/surveys")
    assert listing.status_code == 200 and "New survey" not in listing.text
    assert (await viewer.get(f"/app/surveys/{account.survey_id}/preview")).status_code == 200
    assert (await viewer.get(f"/app/surveys/{account.survey_id}")).status_code == 403
    assert (await viewer.get("/app/surveys/new")).status_code == 403
    token = form_with_action(listing.text, "/app/sign-out")["csrf_token"]
    for path in (
        f"/app/surveys/{account.survey_id}",
        f"/app/surveys/{account.survey_id}/archive",
        f"/app/surveys/{account.survey_id}/duplicate",
        "/app/surveys/new",
    ):
        r = await viewer.post(path, data={"csrf_token": token, "name": "Taken over", "save": "1"})
        assert r.status_code == 403, path
    assert "Taken over" not in (await admin.get("/app/surveys")).text
    assert await events(app, account) == []


@pytest.mark.parametrize("suffix", ["", "/preview"])
async def test_another_accounts_survey_is_not_found(
    other_account: Account, admin: httpx.AsyncClient, suffix: str
) -> None:
    assert (await admin.get(f"/app/surveys/{other_account.survey_id}{suffix}")).status_code == 404


async def test_another_accounts_survey_cannot_be_changed(
    other_account: Account, admin: httpx.AsyncClient
) -> None:
    listing = await admin.get("/app/surveys")
    token = form_with_action(listing.text, "/app/sign-out")["csrf_token"]
    for suffix in ("", "/archive", "/duplicate"):
        r = await admin.post(
            f"/app/surveys/{other_account.survey_id}{suffix}",
            data={"csrf_token": token, "name": "x", "save": "1"},
        )
        assert r.status_code == 404, suffix
