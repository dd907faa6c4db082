"""The console's survey translations (issue 16 §2): an admin adds a language, writes the name,
questions and options beside the original, saves a new version (audited) and removes it
again, all without JavaScript; problems show beside their fields (422); viewers read the
translations and change nothing; the survey page then speaks the language. Both engines."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import Account
from tests.console.conftest import form_with_action
from tests.console.test_surveys import builder_fields, events, post_fields, replace
from tests.surveys.conftest import create_request, open_form
from tests.surveys.html import parse


def path_of(account: Account) -> str:
    return f"/app/surveys/{account.survey_id}/translations"


def question_ids(account: Account) -> list[int]:
    return [q["id"] for q in account.survey["questions"]]


async def add_language(
    admin: httpx.AsyncClient, account: Account, tag: str, page: str | None = None
) -> httpx.Response:
    path = path_of(account)
    page = page or (await admin.get(path)).text
    fields = builder_fields(page, path)
    return await post_fields(admin, path, [*replace(fields, "new_language", tag), ("add", "1")])


def french(fields: list[tuple[str, str]], account: Account, tag: str = "fr") -> list[Any]:
    nps, rating, text, radio = question_ids(account)
    fields = replace(fields, f"t.{tag}.name", "Satisfaction du support")
    fields = replace(fields, f"t.{tag}.q{nps}.text", "Nous recommanderiez-vous ?")
    fields = replace(fields, f"t.{tag}.q{rating}.text", "Êtes-vous satisfait ?")
    fields = replace(fields, f"t.{tag}.q{text}.text", "Autre chose ?")
    fields = replace(fields, f"t.{tag}.q{radio}.text", "Problème résolu ?")
    return replace(fields, f"t.{tag}.q{radio}.options", "Oui\nNon")


async def test_an_admin_adds_edits_and_removes_a_translation(
    app: FastAPI, client: httpx.AsyncClient, account: Account, admin: httpx.AsyncClient
) -> None:
    path = path_of(account)
    builder = await admin.get(f"/app/surveys/{account.survey_id}")
    assert f'href="{path}"' in builder.text
    page = await admin.get(path)
    assert page.status_code == 200 and "no translations yet" in page.text

    added = await add_language(admin, account, "FR")
    assert added.status_code == 200 and "Not saved yet" in added.text
    doc = parse(added.text)
    assert doc.find("fieldset", lang="fr")
    # Each field beside its original.
    radio = question_ids(account)[3]
    assert "Yes · No" in doc.find(id=f"t-fr-q{radio}-options-original").text
    saved = await post_fields(admin, path, [*french(builder_fields(added.text, path), account)])
    assert saved.status_code == 303, saved.text
    shown = await admin.get(saved.headers["location"])
    assert "Translations saved" in shown.text and "version 2" in shown.text
    assert parse(shown.text).find(id="t-fr-name").get("value") == "Satisfaction du support"
    assert f'href="/s/{account.survey["code"]}?preview=1&amp;lang=fr"' in shown.text
    [event] = [e for e in await events(app, account) if e["action"] == "survey.updated"]
    assert event["before"] == {"version": 1, "translations": {}}
    assert event["after"]["version"] == 2
    assert event["after"]["translations"]["fr"]["questions"][3] == {
        "text": "Problème résolu ?",
        "options": ["Oui", "Non"],
    }

    # The survey page speaks French to a French request; answers post the original values.
    _, token = await create_request(app, account, data=[{"key": "language", "value": "fr-FR"}])
    survey_page, _ = await open_form(client, account.survey["code"], token)
    assert survey_page.find("h1").text == "Satisfaction du support"
    labels = survey_page.find("fieldset", id=f"q{radio}").find_all("label")
    assert [(b.find("input").get("value"), b.find("span").text) for b in labels] == [
        ("Yes", "Oui"),
        ("No", "Non"),
    ]

    # Saving it unchanged makes no version; removing the language does.
    # (The helper reads a textarea with its lines joined: the options typed again.)
    fields = replace(builder_fields(shown.text, path), f"t.fr.q{radio}.options", "Oui\nNon")
    unchanged = await post_fields(admin, path, fields)
    assert unchanged.headers["location"].endswith("done=unchanged")
    removed = await post_fields(admin, path, [*fields, ("t.fr.remove", "1")])
    assert removed.status_code == 303
    after = await admin.get(path)
    assert "no translations yet" in after.text and "version 3" in after.text


async def test_problems_show_beside_their_fields_and_nothing_is_saved(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    path = path_of(account)
    refused = await add_language(admin, account, "not a tag")
    assert refused.status_code == 422
    assert "language tag" in parse(refused.text).find(id="new-language-error").text

    added = await add_language(admin, account, "de")
    nps, _, _, radio = question_ids(account)
    fields = french(builder_fields(added.text, path), account, "de")
    fields = replace(fields, f"t.de.q{radio}.options", "Ja")
    fields = replace(fields, f"t.de.q{nps}.text", "")
    r = await post_fields(admin, path, fields)
    assert r.status_code == 422
    doc = parse(r.text)
    assert doc.find("title").text.startswith("Error:")
    box = doc.find(id=f"t-de-q{radio}-options")
    assert box.get("aria-describedby", "").startswith(f"t-de-q{radio}-options-error")
    assert "2 options expected, 1 given" in doc.find(id=f"t-de-q{radio}-options-error").text
    assert "required" in doc.find(id=f"t-de-q{nps}-text-error").text
    # What was typed is kept.
    assert doc.find(id="t-de-name").get("value") == "Satisfaction du support"
    assert [e for e in await events(app, account) if e["action"].startswith("survey.")] == []
    assert "version 1" in (await admin.get(path)).text


async def test_a_viewer_reads_the_translations_and_changes_nothing(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, viewer: httpx.AsyncClient
) -> None:
    path = path_of(account)
    added = await add_language(admin, account, "fr")
    saved = await post_fields(admin, path, french(builder_fields(added.text, path), account))
    assert saved.status_code == 303
    page = await viewer.get(path)
    assert page.status_code == 200
    doc = parse(page.text)
    assert not [f for f in doc.find_all("form") if f.get("action") == path]
    assert "Problème résolu ?" in page.text and "Oui · Non" in page.text
    preview = await viewer.get(f"/app/surveys/{account.survey_id}/preview")
    assert f'href="{path}"' in preview.text
    token = form_with_action(page.text, "/app/sign-out")["csrf_token"]
    r = await viewer.post(path, data={"csrf_token": token, "t.fr.name": "Pris", "save": "1"})
    assert r.status_code == 403
    assert "Satisfaction du support" in (await admin.get(path)).text
