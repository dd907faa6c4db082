"""A survey's translations (issue 16 §2): its name, questions and options in other languages,
each beside the original. One form, working without JavaScript: "Add language" re-shows it
with an empty language (nothing saved until "Save translations"), "Remove" boxes take a
language out on saving. Saving goes through the survey-file rules and versioning
(``surveys.importer.validate_translations``, ``surveys.admin.update_survey``): a change is a
new version of the survey, audited as ``survey.updated``; problems show beside their fields.
Viewers read the translations; only admins change them."""

from __future__ import annotations

import re
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
from opensure.core.languages import normalise
from opensure.surveys import admin as surveys
from opensure.surveys import importer
from opensure.surveys.importer import SurveyInvalid

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
SignedIn = Annotated[Viewer, Depends(signed_in)]

NOTICES = {
    "saved": "Translations saved as a new version of the survey.",
    "unchanged": "Nothing changed, so no new version was made.",
}
# t.{language}.name, t.{language}.remove, t.{language}.q{question id}.text / .options
FIELD = re.compile(r"t\.([A-Za-z0-9-]{2,35})\.(?:(name|remove)|q([0-9]{1,19})\.(text|options))")
MAX_LANGUAGES = 30
WHERE = re.compile(r"translations\.([^.]+)(?:\.questions\[(\d+)\])?")


@dataclass
class Item:
    """One question beside its translation."""

    id: int
    type: str
    original: str
    original_options: list[str] | None
    text: str = ""
    options: str = ""


@dataclass
class Language:
    tag: str
    name: str = ""
    items: list[Item] = field(default_factory=list)
    remove: bool = False
    new: bool = False
    # field ("name", "questions", "q12-text", "q12-options") → message
    errors: dict[str, str] = field(default_factory=dict)


def _items(survey: dict[str, Any]) -> list[Item]:
    return [
        Item(id=q["id"], type=q["type"], original=q["text"], original_options=q["options"])
        for q in survey["questions"]
    ]


def languages_of(survey: dict[str, Any]) -> list[Language]:
    """The stored translations beside the questions (a question added since: empty)."""
    out = []
    for tag, t in surveys.translations_file(survey).items():
        language = Language(tag=tag, name=t["name"], items=_items(survey))
        for item, given in zip(language.items, t["questions"], strict=True):
            item.text = given["text"]
            item.options = "\n".join(given.get("options") or [])
        out.append(language)
    return out


def languages_from_form(form: FormData, survey: dict[str, Any]) -> list[Language]:
    """The languages in the order their fields came; unknown questions ignored."""
    found: dict[str, Language] = {}
    for name, value in form.multi_items():
        match = FIELD.fullmatch(name)
        if match is None or not isinstance(value, str):
            continue
        tag, part, qid, qpart = match.groups()
        language = found.get(tag)
        if language is None:
            if len(found) >= MAX_LANGUAGES:
                continue
            language = found[tag] = Language(tag=tag, items=_items(survey))
        if part == "name":
            language.name = value.strip()
        elif part == "remove":
            language.remove = True
        else:
            item = next((i for i in language.items if str(i.id) == qid), None)
            if item is not None:
                setattr(item, qpart, value.strip())
    return list(found.values())


def translations_doc(languages: list[Language]) -> dict[str, Any]:
    """The survey file's ``translations:`` these languages make (removed ones left out)."""
    out: dict[str, Any] = {}
    for language in languages:
        if language.remove:
            continue
        questions = []
        for item in language.items:
            q: dict[str, Any] = {"text": item.text}
            if item.original_options is not None:
                q["options"] = [o.strip() for o in item.options.splitlines() if o.strip()]
            questions.append(q)
        out[language.tag] = {"name": language.name, "questions": questions}
    return out


def place_problems(problems: list[tuple[str, str, str]], languages: list[Language]) -> list[str]:
    """Each problem beside its field; those that have none (if any) returned."""
    by_tag = {language.tag: language for language in languages}
    others = []
    for where, fieldname, message in problems:
        match = WHERE.fullmatch(where)
        language = by_tag.get(match[1]) if match else None
        if match is None or language is None:
            others.append(f"{where}{'.' + fieldname if fieldname else ''}: {message}")
            continue
        if match[2] is not None and int(match[2]) < len(language.items):
            item = language.items[int(match[2])]
            key = f"q{item.id}-{'options' if fieldname == 'options' else 'text'}"
            label = "Options" if fieldname == "options" else "Question"
        else:
            key = "name" if fieldname == "name" else "questions"
            label = "Name" if fieldname == "name" else "Questions"
        text = f"{label}: {message}."
        language.errors[key] = f"{language.errors[key]} {text}" if key in language.errors else text
    return others


def _id(value: str) -> int:
    found = parse_path_id(value)
    if found is None:
        raise web.NotFound
    return found


async def _survey(request: Request, viewer: Viewer, survey_id: str) -> dict[str, Any]:
    try:
        async with read(request) as conn:
            return await surveys.show_survey(conn, viewer.account_id, _id(survey_id))
    except AdminError:
        raise web.NotFound from None


def _page(
    request: Request,
    viewer: Viewer,
    survey: dict[str, Any],
    languages: list[Language],
    *,
    status_code: int = 200,
    new_language: str = "",
    new_error: str | None = None,
    others: list[str] | None = None,
    unsaved: bool = False,
    focus: str | None = None,
) -> Response:
    done = request.query_params.get("done") or ""
    context = {
        "title": f"Translations of {survey['name']}",
        "nav": "surveys",
        "survey": survey,
        "languages": languages,
        "new_language": new_language,
        "new_error": new_error,
        "others": others or [],
        "has_problems": bool(new_error or others or any(t.errors for t in languages)),
        "unsaved": unsaved,
        "focus": focus,
        "notice": None if unsaved or status_code != 200 else NOTICES.get(done),
        "action": f"{web.PREFIX}/surveys/{survey['id']}/translations",
        "name_max": importer.NAME_MAX,
        "text_max": importer.TEXT_MAX,
        "editable": viewer.is_admin and survey["archived_at"] is None,
    }
    return web.page(request, viewer, "survey_translations.html", context, status_code)


@router.get("/surveys/{survey_id}/translations")
async def translations_page(request: Request, survey_id: str, viewer: SignedIn) -> Response:
    """The survey's translations beside its questions (read-only for viewers)."""
    survey = await _survey(request, viewer, survey_id)
    return _page(request, viewer, survey, languages_of(survey))


def _added(
    form: FormData, survey: dict[str, Any], languages: list[Language]
) -> tuple[Language | None, str, str | None]:
    """The language "Add language" asks for, or why not (beside the field)."""
    raw = form.get("new_language")
    given = raw.strip() if isinstance(raw, str) else ""
    tag = normalise(given)
    if tag is None:
        return None, given, "Give a language tag such as fr, de or fr-CA."
    if any(t.tag.lower() == tag.lower() for t in languages):
        return None, given, f"The survey already has {tag}: edit it below."
    if len(languages) >= MAX_LANGUAGES:
        return None, given, f"At most {MAX_LANGUAGES} languages."
    return Language(tag=tag, items=_items(survey), new=True), "", None


@router.post("/surveys/{survey_id}/translations")
async def save_translations(request: Request, survey_id: str, viewer: SignedIn) -> Response:
    """Save the translations as a new version (or re-show the form after "Add language")."""
    form = await checked_form(request, viewer)
    require_admin(viewer)
    survey = await _survey(request, viewer, survey_id)
    languages = languages_from_form(form, survey)
    if form.get("add") is not None:
        added, typed, error = _added(form, survey, languages)
        if added is None:
            return _page(
                request,
                viewer,
                survey,
                languages,
                status_code=422,
                new_language=typed,
                new_error=error,
                unsaved=True,
                focus="new-language",
            )
        languages.append(added)
        return _page(request, viewer, survey, languages, unsaved=True, focus=f"t-{added.tag}-name")
    doc = {**surveys.as_file(survey), "translations": translations_doc(languages)}
    try:
        async with transaction(request) as conn:
            result = await surveys.update_survey(conn, viewer.account_id, survey["id"], doc)
            if not result.pop("changed"):
                return web.redirect(
                    f"{web.PREFIX}/surveys/{survey['id']}/translations?done=unchanged"
                )
            subject = f"Survey {survey['id']} ({survey['name']})"
            await record(
                conn,
                viewer,
                "survey.updated",
                subject,
                subject_id=survey["id"],
                before={
                    "version": survey["version"],
                    "translations": surveys.translations_file(survey),
                },
                after={
                    "version": result["version"],
                    "translations": surveys.translations_file(result),
                },
            )
    except SurveyInvalid as exc:
        others = place_problems(exc.problems, languages)
        return _page(request, viewer, survey, languages, status_code=422, others=others)
    except AdminError as exc:  # archived meanwhile
        return _page(request, viewer, survey, languages, status_code=409, others=[str(exc)])
    return web.redirect(f"{web.PREFIX}/surveys/{survey['id']}/translations?done=saved")
