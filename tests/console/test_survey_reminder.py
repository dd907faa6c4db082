"""The survey builder's reminder field (SPEC §10, docs/console.md): a survey's own
reminder_after_days, saved without a new version, audited, refused beside the field when it is
not 0 to 365, and left empty to follow the account. Both engines."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from opensure.surveys import admin as surveys
from tests.conftest import Account
from tests.console.test_surveys import builder_fields, events, post_fields, replace
from tests.surveys.html import parse


async def shown(app: FastAPI, account: Account) -> dict[str, object]:
    async with app.state.engine.connect() as conn:
        return await surveys.show_survey(conn, account.id, account.survey_id)


async def test_the_builder_sets_the_surveys_reminder(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    path = f"/app/surveys/{account.survey_id}"
    page = await admin.get(path)
    doc = parse(page.text)
    box = doc.find(id="survey-reminder")
    assert box.get("value") in (None, "")  # the account's setting holds
    assert doc.find("label", **{"for": "survey-reminder"}).text == "Reminder after (days)"
    assert box.get("aria-describedby") == "survey-reminder-help"

    # Saved as the builder shows it first: the round trip may tidy the questions (a version).
    assert (
        await post_fields(admin, path, [*builder_fields(page.text, path), ("save", "1")])
    ).status_code == 303
    page = await admin.get(path)
    version = (await shown(app, account))["version"]
    fields = replace(builder_fields(page.text, path), "reminder_after_days", " 4 ")
    saved = await post_fields(admin, path, [*fields, ("save", "1")])
    assert saved.status_code == 303, saved.text
    after = await shown(app, account)
    # A setting, not a question: no new version.
    assert (after["reminder_after_days"], after["version"]) == (4, version)
    again = parse((await admin.get(path)).text)
    assert again.find(id="survey-reminder").get("value") == "4"
    event = next(e for e in await events(app, account) if e["action"] == "survey.updated")
    assert "reminder_after_days" not in event["before"]
    assert event["after"]["reminder_after_days"] == 4

    for bad in ("366", "-1", "soon"):
        fields = replace(builder_fields(page.text, path), "reminder_after_days", bad)
        refused = await post_fields(admin, path, [*fields, ("save", "1")])
        assert refused.status_code == 422
        doc = parse(refused.text)
        assert "from 0 (no reminders) to 365" in doc.find(id="survey-reminder-error").text
        box = doc.find(id="survey-reminder")
        assert box.get("value") == bad and box.get("aria-invalid") == "true"
        assert doc.find("a", href="#survey-reminder") is not None
    assert (await shown(app, account))["reminder_after_days"] == 4

    # Emptied: the account's setting holds again.
    fields = replace(builder_fields(page.text, path), "reminder_after_days", "")
    assert (await post_fields(admin, path, [*fields, ("save", "1")])).status_code == 303
    assert (await shown(app, account))["reminder_after_days"] is None
