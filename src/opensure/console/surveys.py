"""Surveys: the list, the builder (create and edit), archive/restore, duplicate, preview.

The builder is one form: the survey's name and one fieldset per question. It works without
JavaScript: "Move up"/"Move down", "Add question" and "Remove" are buttons or boxes of the
form, and moving or adding re-shows the form (nothing saved until "Save survey"). The order of
the questions is the order their fields arrive in, so the script only moves fieldsets.
Saving goes through the same rules as a survey file (``surveys.importer.validate``) and the
same versioning as ``opensure surveys update`` (``surveys.admin``): earlier responses keep
the questions as they were answered. Viewers see the list and the preview; the builder and
every change are for admins.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from opensure.api.deps import read, transaction
from opensure.api.validation import parse_path_id
from opensure.console import web
from opensure.console.session import Viewer, checked_form, require_admin, signed_in
from opensure.console.viewer import record
from opensure.core.errors import AdminError
from opensure.models.surveys import QUESTION_TYPES
from opensure.surveys import admin as surveys
from opensure.surveys import importer
from opensure.surveys.importer import WITH_OPTIONS, SurveyInvalid

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
SignedIn = Annotated[Viewer, Depends(signed_in)]

LIST = f"{web.PREFIX}/surveys"
TYPE_NAMES = {
    "rating": "Rating (a scale)",
    "text": "Text",
    "dropdown": "Dropdown (choose one)",
    "radio": "Radio buttons (choose one)",
    "checkbox": "Checkboxes (choose any)",
}
NOTICES = {
    "created": "The survey is created. Customers can be sent it now.",
    "saved": "Saved as a new version. Earlier responses keep the questions as they were asked.",
    "unchanged": "Nothing changed, so no new version was made.",
    "archived": "The survey is archived: its page is closed and pending requests for it "
    "will not be sent.",
    "restored": "The survey is restored: its page takes answers again.",
    "duplicated": "This is a copy: a new survey with its own id and link.",
}
ROW_FIELD = re.compile(r"q([A-Za-z0-9]{1,16})\.(\w+)")
MAX_QUESTIONS = 100
# The builder's name for each field a survey rule can name (a problem shows beside its field).
FIELD_LABELS = {
    "text": "Question",
    "scale": "Scale",
    "options": "Options",
    "type": "Type",
    "nps": "NPS",
}
NEW_SURVEY_QUESTION = {
    "type": "rating",
    "nps": True,
    "text": "How likely are you to recommend us to a friend or colleague?",
}


def _id(value: str) -> int:
    found = parse_path_id(value)
    if found is None:
        raise web.NotFound
    return found


def _notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("done") or "")


async def _record(
    conn: Any,
    viewer: Viewer,
    action: str,
    survey: dict[str, Any],
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """One survey change in the audit log, in the change's transaction."""
    subject = f"Survey {survey['id']} ({survey['name']})"
    await record(conn, viewer, action, subject, subject_id=survey["id"], before=before, after=after)


# ---- the builder's rows ----


@dataclass
class Row:
    """One question's fieldset as shown (and as typed)."""

    key: str
    id: int | None = None
    type: str = "rating"
    text: str = ""
    required: bool = True
    nps: bool = False
    scale_min: str = "0"
    scale_max: str = "10"
    options: str = ""
    remove: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def is_new(self) -> bool:
        return self.id is None


def _new_key() -> str:
    return secrets.token_hex(4)


def rows_of(survey: dict[str, Any]) -> list[Row]:
    rows = []
    for q in survey["questions"]:
        rows.append(
            Row(
                key=str(q["id"]),
                id=q["id"],
                type=q["type"],
                text=q["text"],
                required=q["required"],
                nps=q["nps"],
                scale_min="" if q["scale_min"] is None else str(q["scale_min"]),
                scale_max="" if q["scale_max"] is None else str(q["scale_max"]),
                options="\n".join(q["options"] or []),
            )
        )
    return rows


def _blank(qtype: str, **values: Any) -> Row:
    row = Row(key=_new_key(), type=qtype if qtype in QUESTION_TYPES else "rating")
    for name, value in values.items():
        setattr(row, name, value)
    return row


def rows_from_form(form: FormData, existing: dict[int, str]) -> list[Row]:
    """The rows in the order their fields came. ``existing``: the survey's question ids and
    types (an existing question's type comes from the survey, never from the form)."""
    rows: dict[str, Row] = {}
    for name, value in form.multi_items():
        match = ROW_FIELD.fullmatch(name)
        if match is None or not isinstance(value, str):
            continue
        key, part = match.groups()
        row = rows.get(key)
        if row is None:
            if len(rows) >= MAX_QUESTIONS:
                continue
            row = rows[key] = Row(key=key, required=False)
        if part == "id":
            qid = parse_path_id(value.strip())
            row.id = qid if qid in existing else None
        elif part == "type":
            row.type = value if value in QUESTION_TYPES else "rating"
        elif part == "text":
            row.text = value.strip()
        elif part in ("required", "nps", "remove"):
            setattr(row, part, True)
        elif part in ("scale_min", "scale_max", "options"):
            setattr(row, part, value.strip())
    for row in rows.values():
        if row.id is not None:
            row.type = existing[row.id]
    return list(rows.values())


def _scale(row: Row) -> Any:
    try:
        return [int(row.scale_min), int(row.scale_max)]
    except ValueError:
        return [row.scale_min, row.scale_max]  # refused by the survey rules, beside its field


def document(name: str, rows: list[Row]) -> tuple[dict[str, Any], list[Row]]:
    """The survey file the rows make (removed rows left out), and the rows in its order."""
    kept = [r for r in rows if not r.remove]
    questions = []
    for r in kept:
        q: dict[str, Any] = {"type": r.type, "text": r.text, "required": r.required}
        if r.id is not None:
            q["id"] = r.id
        if r.type == "rating":
            q["nps"] = r.nps
            q["scale"] = [0, 10] if r.nps else _scale(r)
        if r.type in WITH_OPTIONS:
            q["options"] = [line.strip() for line in r.options.splitlines() if line.strip()]
        questions.append(q)
    return {"name": name, "questions": questions}, kept


def place_problems(
    problems: list[tuple[str, str, str]], kept: list[Row]
) -> tuple[dict[str, str], list[str]]:
    """Each problem beside its question's field; the survey's own (name, no questions)."""
    survey_problems: dict[str, str] = {}
    others: list[str] = []
    for where, fieldname, message in problems:
        found = re.fullmatch(r"questions\[(\d+)\]", where)
        if found and int(found[1]) < len(kept):
            target = fieldname if fieldname in FIELD_LABELS else "text"
            row = kept[int(found[1])]
            text = f"{FIELD_LABELS.get(fieldname, 'Question')}: {message}."
            row.errors[target] = f"{row.errors[target]} {text}" if target in row.errors else text
        elif where == "name":
            survey_problems["name"] = "Name: " + message + "."
        elif where == "reminder_after_days":
            survey_problems[where] = "Reminder: " + message + "."
        elif where == "questions":
            others.append("Add at least one question (or untick Remove on one).")
        else:
            others.append(f"{fieldname + ': ' if fieldname else ''}{message}")
    return survey_problems, others


# ---- pages ----


@router.get("/surveys")
async def list_page(request: Request, viewer: SignedIn) -> Response:
    """The account's surveys, archived ones last, with their version and links."""
    async with read(request) as conn:
        rows = await surveys.list_surveys(conn, viewer.account_id)
    rows.sort(key=lambda r: (r["archived_at"] is not None, r["name"].casefold(), r["id"]))
    context = {"title": "Surveys", "nav": "surveys", "rows": rows, "notice": _notice(request)}
    return web.page(request, viewer, "surveys.html", context)


def _builder(
    request: Request,
    viewer: Viewer,
    *,
    survey: dict[str, Any] | None,
    name: str,
    rows: list[Row],
    status_code: int = 200,
    survey_problems: dict[str, str] | None = None,
    others: list[str] | None = None,
    unsaved: bool = False,
    focus: str | None = None,
    reminder: str = "",
) -> Response:
    context = {
        # The survey's reminder_after_days as typed (empty: the account's setting holds).
        "reminder": reminder,
        "title": f"Edit {survey['name']}" if survey else "New survey",
        "nav": "surveys",
        "survey": survey,
        "name": name,
        "rows": rows,
        "types": TYPE_NAMES,
        "with_options": WITH_OPTIONS,
        "survey_problems": survey_problems or {},
        "others": others or [],
        "has_problems": bool(survey_problems or others or any(r.errors for r in rows)),
        "unsaved": unsaved,
        "focus": focus,
        "notice": None if unsaved or status_code != 200 else _notice(request),
        "action": f"{LIST}/{survey['id']}" if survey else f"{LIST}/new",
        "name_max": importer.NAME_MAX,
        "text_max": importer.TEXT_MAX,
    }
    return web.page(request, viewer, "survey_builder.html", context, status_code)


@router.get("/surveys/new")
async def new_page(request: Request, viewer: SignedIn) -> Response:
    """An empty builder with one NPS question to start from."""
    require_admin(viewer)
    return _builder(
        request, viewer, survey=None, name="", rows=[_blank("rating", **NEW_SURVEY_QUESTION)]
    )


async def _survey(request: Request, viewer: Viewer, survey_id: str) -> dict[str, Any]:
    try:
        async with read(request) as conn:
            return await surveys.show_survey(conn, viewer.account_id, _id(survey_id))
    except AdminError:
        raise web.NotFound from None


@router.get("/surveys/{survey_id}")
async def edit_page(request: Request, survey_id: str, viewer: SignedIn) -> Response:
    """The builder for one survey, as customers are asked it now."""
    require_admin(viewer)
    survey = await _survey(request, viewer, survey_id)
    return _builder(
        request,
        viewer,
        survey=survey,
        name=survey["name"],
        rows=rows_of(survey),
        reminder=_reminder_shown(survey),
    )


def _reminder_shown(survey: dict[str, Any]) -> str:
    days = survey.get("reminder_after_days")
    return "" if days is None else str(days)


def _reminder_typed(form: FormData) -> tuple[str, Any]:
    """The reminder field as typed, and as the survey file takes it (None: left empty; a
    number; else the text, which the survey rules refuse beside the field)."""
    value = form.get("reminder_after_days")
    typed = value.strip() if isinstance(value, str) else ""
    if not typed:
        return "", None
    return typed, int(typed) if typed.isdecimal() and len(typed) <= 4 else typed


def _rearranged(form: FormData, rows: list[Row]) -> tuple[list[Row], str | None] | None:
    """Rows after a "Move"/"Add question" button (nothing saved), or None for "Save"."""
    move = form.get("move")
    if isinstance(move, str) and ":" in move:
        key, direction = move.split(":", 1)
        index = next((i for i, r in enumerate(rows) if r.key == key), None)
        if index is not None:
            other = index - 1 if direction == "up" else index + 1
            if 0 <= other < len(rows):
                rows[index], rows[other] = rows[other], rows[index]
        return rows, f"q{key}-move-{direction}"
    add = form.get("add")
    if isinstance(add, str):
        new_type = form.get("new_type")
        row = _blank(new_type if isinstance(new_type, str) else "text")
        if row.type == "rating":
            row.scale_min, row.scale_max = "1", "5"
        if len(rows) < MAX_QUESTIONS:
            rows.append(row)
        return rows, f"q{row.key}-text"
    return None


async def _save(
    request: Request, viewer: Viewer, form: FormData, survey: dict[str, Any] | None
) -> Response:
    existing = {q["id"]: q["type"] for q in survey["questions"]} if survey else {}
    name_value = form.get("name")
    name = name_value.strip() if isinstance(name_value, str) else ""
    rows = rows_from_form(form, existing)
    reminder, days = _reminder_typed(form)
    rearranged = _rearranged(form, rows)
    if rearranged is not None:
        rows, focus = rearranged
        return _builder(
            request,
            viewer,
            survey=survey,
            name=name,
            rows=rows,
            unsaved=True,
            focus=focus,
            reminder=reminder,
        )
    doc, kept = document(name, rows)
    if days is not None:
        doc["reminder_after_days"] = days
    try:
        async with transaction(request) as conn:
            if survey is None:
                created = await importer.import_survey(conn, viewer.account_id, doc)
                after = await surveys.show_survey(conn, viewer.account_id, created["id"])
                await _record(conn, viewer, "survey.created", after, after=surveys.as_file(after))
                return web.redirect(f"{LIST}/{after['id']}?done=created")
            result = await surveys.update_survey(conn, viewer.account_id, survey["id"], doc)
            if result.pop("changed"):
                await _record(
                    conn,
                    viewer,
                    "survey.updated",
                    result,
                    before={"version": survey["version"], **surveys.as_file(survey)},
                    after={"version": result["version"], **surveys.as_file(result)},
                )
                return web.redirect(f"{LIST}/{survey['id']}?done=saved")
            return web.redirect(f"{LIST}/{survey['id']}?done=unchanged")
    except SurveyInvalid as exc:
        survey_problems, others = place_problems(exc.problems, kept)
        return _builder(
            request,
            viewer,
            survey=survey,
            name=name,
            rows=rows,
            status_code=422,
            survey_problems=survey_problems,
            others=others,
            reminder=reminder,
        )
    except AdminError as exc:  # archived meanwhile
        return _builder(
            request,
            viewer,
            survey=survey,
            name=name,
            rows=rows,
            status_code=409,
            others=[str(exc)],
            reminder=reminder,
        )


@router.post("/surveys/new")
async def create(request: Request, viewer: SignedIn) -> Response:
    """Create the survey (or re-show the builder after Move/Add)."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    return await _save(request, viewer, form, None)


@router.post("/surveys/{survey_id}")
async def save(request: Request, survey_id: str, viewer: SignedIn) -> Response:
    """Save a new version (or re-show the builder after Move/Add)."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    return await _save(request, viewer, form, await _survey(request, viewer, survey_id))


async def _archive(request: Request, viewer: Viewer, survey_id: str, archived: bool) -> Response:
    await checked_form(request, viewer)
    require_admin(viewer)
    survey = await _survey(request, viewer, survey_id)
    async with transaction(request) as conn:
        after = await surveys.set_archived(conn, viewer.account_id, survey["id"], archived)
        await _record(
            conn,
            viewer,
            "survey.archived" if archived else "survey.restored",
            survey,
            before={"archived_at": survey["archived_at"]},
            after={"archived_at": after["archived_at"]},
        )
    return web.redirect(f"{LIST}?done={'archived' if archived else 'restored'}")


@router.post("/surveys/{survey_id}/archive")
async def archive(request: Request, survey_id: str, viewer: SignedIn) -> Response:
    """Archive: the page closes, pending requests end not_sent ("survey removed")."""
    return await _archive(request, viewer, survey_id, True)


@router.post("/surveys/{survey_id}/restore")
async def restore(request: Request, survey_id: str, viewer: SignedIn) -> Response:
    """Restore an archived survey."""
    return await _archive(request, viewer, survey_id, False)


@router.post("/surveys/{survey_id}/duplicate")
async def duplicate(request: Request, survey_id: str, viewer: SignedIn) -> Response:
    """A copy with new ids and a new public link, opened in the builder."""
    await checked_form(request, viewer)
    require_admin(viewer)
    survey = await _survey(request, viewer, survey_id)
    async with transaction(request) as conn:
        copy = await surveys.duplicate(conn, viewer.account_id, survey["id"])
        after = await surveys.show_survey(conn, viewer.account_id, copy["id"])
        await _record(
            conn,
            viewer,
            "survey.created",
            after,
            after={"copied_from": survey["id"], **surveys.as_file(after)},
        )
    return web.redirect(f"{LIST}/{copy['id']}?done=duplicated")


@router.get("/surveys/{survey_id}/preview")
async def preview(request: Request, survey_id: str, viewer: SignedIn) -> Response:
    """The survey as a customer sees it from an e-mail, at desktop and phone widths."""
    survey = await _survey(request, viewer, survey_id)
    context = {"title": f"Preview of {survey['name']}", "nav": "surveys", "survey": survey}
    return web.page(request, viewer, "survey_preview.html", context)
