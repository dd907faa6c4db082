"""Surveys as the admin side (CLI and console) lists, shows, changes, archives and copies them.

Editing never rewrites history (ARCHITECTURE.md, "Survey versions"): a saved change makes a
new version of the survey; a question whose shown text, options, scale, required flag or
position changed gets a new revision (its id stays); a question left out is marked removed
(never deleted); earlier answers keep pointing to the revision they were given under. A
question's type and NPS flag are fixed once it exists: the metrics read its ratings by id.

Translations (ARCHITECTURE.md "Survey translations") are stored per question id and are not
revisions: a file that gives ``translations:`` replaces them all (a change makes a new version);
a file without it keeps them as they are.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.api.timestamps import format as iso
from opensure.core.clock import utcnow
from opensure.core.errors import AdminError
from opensure.surveys import importer
from opensure.surveys import repository as repo
from opensure.surveys.importer import SurveyInvalid

# A question's fields as a survey file and the builder spell them.
FILE_KEYS = ("id", "type", "text", "nps", "required", "scale", "options")


def _survey_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "code": row["code"],
        "name": row["name"],
        "version": row["version"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "archived_at": iso(row["deleted_at"]),
        # None: the account's setting holds (docs/reminders.md).
        "reminder_after_days": row.get("reminder_after_days"),
    }


def question_json(q: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "position", "type", "text", "nps", "required", "scale_min", "scale_max")
    return {**{k: q[k] for k in keys}, "options": q["options"]}


async def list_surveys(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    return [
        {**_survey_json(r), "questions": r["questions"]}
        for r in await repo.list_surveys(conn, account_id)
    ]


async def _found(
    conn: AsyncConnection, account_id: int, survey_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    found = await repo.survey_with_questions(conn, account_id, survey_id)
    if found is None:
        raise AdminError(f"no survey {survey_id} in this account")
    return found


async def show_survey(conn: AsyncConnection, account_id: int, survey_id: int) -> dict[str, Any]:
    survey, questions = await _found(conn, account_id, survey_id)
    return {
        **_survey_json(survey),
        "questions": [question_json(q) for q in questions],
        "translations": survey["translations"] or {},
    }


def translations_file(survey: dict[str, Any]) -> dict[str, Any]:
    """The survey's stored translations (keyed by question id) in the survey-file shape: per
    language its name and a list in the order of the questions. A question added since a
    translation was saved shows an empty text, and one whose number of options changed its old
    translated options, which ``surveys update`` then refuses by path until they are fixed."""
    out: dict[str, Any] = {}
    for language, stored in sorted((survey.get("translations") or {}).items()):
        items = []
        for q in survey["questions"]:
            found = stored.get("questions", {}).get(str(q["id"]), {})
            item: dict[str, Any] = {"text": found.get("text", "")}
            if q["options"] is not None:
                options = found.get("options")
                item["options"] = list(options) if options else []
            items.append(item)
        out[language] = {"name": stored.get("name", ""), "questions": items}
    return out


def as_file(survey: dict[str, Any]) -> dict[str, Any]:
    """A survey (as :func:`show_survey` gives it) in the survey-file shape, each question with
    its ``id``: edit it and give it back to :func:`update_survey` (``surveys update``)."""
    questions = []
    for q in survey["questions"]:
        item: dict[str, Any] = {"id": q["id"], "type": q["type"], "text": q["text"]}
        if q["nps"]:
            item["nps"] = True
        if not q["required"]:
            item["required"] = False
        if q["type"] == "rating" and not q["nps"]:
            item["scale"] = [q["scale_min"], q["scale_max"]]
        if q["options"] is not None:
            item["options"] = list(q["options"])
        questions.append(item)
    doc: dict[str, Any] = {"name": survey["name"], "questions": questions}
    if survey.get("reminder_after_days") is not None:
        doc["reminder_after_days"] = survey["reminder_after_days"]
    if survey.get("translations"):
        doc["translations"] = translations_file(survey)
    return doc


def _shown(q: dict[str, Any]) -> dict[str, Any]:
    return {k: q[k] for k in repo.SHOWN}


async def update_survey(
    conn: AsyncConnection, account_id: int, survey_id: int, doc: Any
) -> dict[str, Any]:
    """Apply ``doc`` (a survey file whose kept questions carry their ``id``): a new version
    when anything shown to customers changed. Returns the survey as :func:`show_survey` gives
    it, plus ``changed``: ``"version"`` (a new version was made), ``"settings"`` (only a setting
    changed, e.g. ``reminder_after_days``: no new version) or ``False`` (nothing changed)."""
    survey, current = await _found(conn, account_id, survey_id)
    if survey["deleted_at"] is not None:
        raise AdminError(f"survey {survey_id} is archived: restore it before changing it")
    name, questions, translations = importer.validate_file(doc, with_ids=True)
    by_id = {q["id"]: q for q in current}
    problems: list[tuple[str, str, str]] = []
    seen: set[int] = set()
    for i, q in enumerate(questions):
        qid = q.get("id")
        if qid is None:
            continue
        where = f"questions[{i}]"
        old = by_id.get(qid)
        if old is None or qid in seen:
            problems.append((where, "id", f"{qid} is not one of this survey's questions"))
            continue
        seen.add(qid)
        if q["type"] != old["type"]:
            problems.append(
                (
                    where,
                    "type",
                    f"stays {old['type']}: a question's type cannot change once it exists "
                    "(remove it and add a new question)",
                )
            )
        if q["nps"] != old["nps"]:
            problems.append(
                (
                    where,
                    "nps",
                    "stays as it was: whether a question is an NPS question cannot change "
                    "once it exists (remove it and add a new question)",
                )
            )
    if problems:
        raise SurveyInvalid(problems)

    changed_questions = [
        q for q in questions if q.get("id") is None or _shown(q) != _shown(by_id[q["id"]])
    ]
    removed = [q for q in current if q["id"] not in seen]
    same_translations = translations is None or (
        not changed_questions
        and importer.stored_translations(translations, [q["id"] for q in questions])
        == (survey["translations"] or None)
    )
    unchanged = name == survey["name"] and not changed_questions and not removed
    unchanged = unchanged and same_translations
    # A setting, not a question: changing it alone makes no new version.
    reminder = importer.reminder_after_days(doc)
    if reminder != survey.get("reminder_after_days"):
        await repo.update_survey(conn, survey_id, {"reminder_after_days": reminder})
        if unchanged:
            return {**await show_survey(conn, account_id, survey_id), "changed": "settings"}
    if unchanged:
        return {**await show_survey(conn, account_id, survey_id), "changed": False}

    now = utcnow()
    version = int(survey["version"]) + 1
    for q in removed:
        await repo.remove_question(conn, q["id"], now)
    for q in changed_questions:
        if q.get("id") is None:
            await repo.insert_question(conn, survey_id, q, version=version, now=now)
        else:
            await repo.add_revision(conn, q["id"], q, version=version, now=now)
    values: dict[str, Any] = {"name": name, "version": version, "updated_at": now}
    if translations is not None:
        # Given: replaced as a whole, each question's under its id (new ones now have one).
        ids = [q["id"] for q in (await show_survey(conn, account_id, survey_id))["questions"]]
        values["translations"] = importer.stored_translations(translations, ids)
    await repo.update_survey(conn, survey_id, values)
    return {**await show_survey(conn, account_id, survey_id), "changed": "version"}


async def set_archived(
    conn: AsyncConnection, account_id: int, survey_id: int, archived: bool
) -> dict[str, Any]:
    """Archive a survey (its pending requests end ``not_sent``, "survey removed"; its page
    closes) or restore it. Returns the survey as :func:`show_survey` gives it."""
    survey, _questions = await _found(conn, account_id, survey_id)
    if (survey["deleted_at"] is not None) != archived:
        await repo.update_survey(conn, survey_id, {"deleted_at": utcnow() if archived else None})
    return await show_survey(conn, account_id, survey_id)


async def duplicate(
    conn: AsyncConnection, account_id: int, survey_id: int, name: str | None = None
) -> dict[str, Any]:
    """A new survey (new id, new public code, version 1) asking the same questions."""
    original = await show_survey(conn, account_id, survey_id)
    doc = as_file(original)
    doc["name"] = name or f"Copy of {original['name']}"[: importer.NAME_MAX]
    doc.pop("translations", None)
    for q in doc["questions"]:
        q.pop("id")
    copy = await importer.import_survey(conn, account_id, doc)
    if original["translations"]:
        # As stored (one missing a question added since stays so), under the copy's ids.
        new_ids = {
            str(old["id"]): str(new["id"])
            for old, new in zip(original["questions"], copy["questions"], strict=True)
        }
        translations = {
            language: {
                **t,
                "questions": {
                    new_ids[qid]: item
                    for qid, item in t.get("questions", {}).items()
                    if qid in new_ids
                },
            }
            for language, t in original["translations"].items()
        }
        await repo.update_survey(conn, copy["id"], {"translations": translations})
    return copy
