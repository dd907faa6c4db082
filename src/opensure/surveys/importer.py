"""Survey files (YAML or JSON, SPEC §7) → a survey with its questions, all or nothing."""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.core.clock import utcnow
from opensure.core.errors import AdminError
from opensure.core.languages import normalise
from opensure.db.ids import chosen_id
from opensure.models.feedback import max_length
from opensure.models.surveys import QUESTION_TYPES, Survey
from opensure.surveys import repository as repo

QUESTION_KEYS = {"type", "text", "nps", "scale", "options", "required"}
WITH_OPTIONS = {"dropdown", "radio", "checkbox"}
_ALPHABET = string.ascii_letters + string.digits
NAME_MAX = max_length(Survey.__table__.c.name)
TEXT_MAX = 2000  # a question's text, as typed in the builder or a file
SCALE_SPAN_MAX = 100


def new_code() -> str:
    """A public survey code like ``AKknWccEFf7``: unguessable, URL-safe."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(11))


def load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AdminError(f"cannot read {path}: {exc}") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        where = getattr(exc, "problem_mark", None) or ""
        raise AdminError(
            f"{path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {exc} {where}".strip()
        ) from None


class SurveyInvalid(AdminError):
    """The survey as given has problems; ``problems`` are (where, field, message) in order,
    ``where`` being ``survey``, ``name``, ``questions`` or ``questions[i]`` and ``field`` the
    question's field or "" (for a page to show each beside its field); the message lists them
    all, for the CLI."""

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        lines = [f"{where}{'.' + field if field else ''}: {msg}" for where, field, msg in problems]
        super().__init__("invalid survey file:\n  " + "\n  ".join(lines))
        self.problems = problems


def validate(doc: Any, *, with_ids: bool = False) -> tuple[str, list[dict[str, Any]]]:
    """The survey name and normalised questions, or SurveyInvalid listing every problem.

    ``with_ids``: a question may carry the ``id`` of the question it keeps (survey updates);
    the ids are checked against the survey by the caller."""
    name, questions, _translations = validate_file(doc, with_ids=with_ids)
    return name, questions


# One language's translation as validated: its name and, in the order of ``questions:``, each
# question's text and options (None for a question without options).
Translations = dict[str, dict[str, Any]]


def validate_file(
    doc: Any, *, with_ids: bool = False
) -> tuple[str, list[dict[str, Any]], Translations | None]:
    """:func:`validate`, plus the file's ``translations`` (None when the file has none)."""
    problems: list[tuple[str, str, str]] = []
    if not isinstance(doc, dict):
        raise SurveyInvalid([("survey", "", "must be a mapping with 'name' and 'questions'")])
    unknown = set(doc) - {"name", "questions", "reminder_after_days", "translations"}
    if unknown:
        problems.append(
            (
                "survey",
                "",
                f"{', '.join(sorted(unknown))}: unknown field "
                "(expected name, questions, reminder_after_days, translations)",
            )
        )
    if reminder_problem(doc.get("reminder_after_days")):
        problems.append(("reminder_after_days", "", REMINDER_PROBLEM))
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(("name", "", "required, a non-empty string"))
    elif len(name.strip()) > NAME_MAX:
        problems.append(("name", "", f"longer than {NAME_MAX} characters"))
    questions = doc.get("questions")
    out: list[dict[str, Any]] = []
    if not isinstance(questions, list) or not questions:
        problems.append(("questions", "", "required, a non-empty list"))
        questions = []
    allowed = QUESTION_KEYS | ({"id"} if with_ids else set())
    for i, q in enumerate(questions):
        where = f"questions[{i}]"

        def problem(message: str, where: str = where) -> None:
            field, sep, rest = message.partition(": ")
            if sep and field.isidentifier():
                problems.append((where, field, rest))
            else:
                problems.append((where, "", message))

        if not isinstance(q, dict):
            problem("must be a mapping with type and text")
            continue
        for key in sorted(set(q) - allowed):
            problems.append((where, key, "unknown field"))
        qid = q.get("id")
        if qid is not None and (not isinstance(qid, int) or isinstance(qid, bool) or qid < 1):
            problem("id: must be the id of one of this survey's questions")
            qid = None
        qtype = str(q.get("type", "")).lower()
        if qtype not in QUESTION_TYPES:
            problem(f"type: must be one of {', '.join(QUESTION_TYPES)}")
        text = q.get("text")
        if not isinstance(text, str) or not text.strip():
            problem("text: required, a non-empty string")
        elif len(text.strip()) > TEXT_MAX:
            problem(f"text: longer than {TEXT_MAX} characters")
        nps = q.get("nps", False)
        if not isinstance(nps, bool):
            problem("nps: must be true or false")
            nps = False
        required = q.get("required", True)
        if not isinstance(required, bool):
            problem("required: must be true or false")
        if nps and qtype != "rating":
            problem("nps: only a rating question can be an NPS question")
        scale_min = scale_max = None
        if qtype == "rating":
            scale = q.get("scale", [0, 10])
            if (
                not isinstance(scale, list)
                or len(scale) != 2
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in scale)
                or scale[0] >= scale[1]
            ):
                problem("scale: must be [min, max], whole numbers, min < max")
            elif nps and scale != [0, 10]:
                problem("scale: an NPS question is always rated 0 to 10")
            elif scale[1] - scale[0] > SCALE_SPAN_MAX or scale[0] < -SCALE_SPAN_MAX:
                problem(f"scale: at most {SCALE_SPAN_MAX + 1} points")
            else:
                scale_min, scale_max = scale
        elif "scale" in q:
            problem("scale: only a rating question has a scale")
        options = q.get("options")
        if qtype in WITH_OPTIONS:
            if (
                not isinstance(options, list)
                or not options
                or not all(isinstance(o, str | int | float) and str(o).strip() for o in options)
            ):
                problem(f"options: required for a {qtype} question, a list of texts")
                options = None
            else:
                options = [str(o).strip() for o in options]
                if len(set(options)) != len(options):
                    problem("options: each option must appear once")
                elif any(", " in o for o in options) and qtype == "checkbox":
                    # The API gives a checkbox answer as the chosen options joined by ", ".
                    problem("options: a checkbox option cannot contain a comma and a space")
        elif options is not None:
            problem("options: only dropdown, radio and checkbox questions have options")
            options = None
        out.append(
            {
                **({"id": qid} if with_ids else {}),
                "position": i,
                "type": qtype,
                "text": text.strip() if isinstance(text, str) else "",
                "nps": nps,
                "required": bool(required),
                "scale_min": scale_min,
                "scale_max": scale_max,
                "options": options if qtype in WITH_OPTIONS else None,
            }
        )
    translations = None  # not given: a survey update keeps the survey's translations
    if "translations" in doc:
        given = doc["translations"]
        translations = validate_translations({} if given is None else given, out, problems)
    if problems:
        raise SurveyInvalid(problems)
    assert isinstance(name, str)
    return name.strip(), out, translations


def _text(value: Any, limit: int) -> str | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
        text = str(value).strip()
        return text if len(text) <= limit else None
    return None


def validate_translations(
    given: Any, questions: list[dict[str, Any]], problems: list[tuple[str, str, str]]
) -> Translations:
    """``translations:`` of a survey file against its (validated) ``questions``: each language
    a BCP 47 tag (normalised: ``FR-ca`` → ``fr-CA``) with the name and every question's text
    and options, as many options as the original. Problems are added by path
    (``translations.fr.questions[2]``, ``options``, ``3 options expected, 2 given``)."""
    out: Translations = {}
    if not isinstance(given, dict):
        problems.append(("translations", "", "must be a mapping of languages (fr: {name: ...})"))
        return out
    for key, value in given.items():
        where = f"translations.{key}"
        language = normalise(str(key))
        if language is None:
            problems.append((where, "", "not a language tag (BCP 47, such as fr or fr-CA)"))
            continue
        if language in out:
            problems.append((where, "", f"{language} is given twice"))
            continue
        if not isinstance(value, dict):
            problems.append((where, "", "must be a mapping with name and questions"))
            continue
        for extra in sorted(set(value) - {"name", "questions"}, key=str):
            problems.append((where, str(extra), "unknown field (expected name, questions)"))
        name = _text(value.get("name"), NAME_MAX)
        if name is None:
            problems.append(
                (where, "name", f"required, a non-empty text of at most {NAME_MAX} characters")
            )
        items = value.get("questions")
        if not isinstance(items, list):
            problems.append((where, "questions", "required, a list in the order of questions"))
            items = []
        elif len(items) != len(questions):
            problems.append(
                (
                    where,
                    "questions",
                    f"{len(questions)} questions expected, {len(items)} given",
                )
            )
        translated: list[dict[str, Any]] = []
        for i, (item, original) in enumerate(zip(items, questions, strict=False)):
            at = f"{where}.questions[{i}]"
            if not isinstance(item, dict):
                problems.append((at, "", "must be a mapping with text (and options)"))
                continue
            for extra in sorted(set(item) - {"text", "options"}, key=str):
                problems.append((at, str(extra), "unknown field (expected text, options)"))
            text = _text(item.get("text"), TEXT_MAX)
            if text is None:
                problems.append(
                    (at, "text", f"required, a non-empty text of at most {TEXT_MAX} characters")
                )
            expected = original["options"]
            options = item.get("options")
            labels: list[str] | None = None
            if expected is None:
                if options is not None:
                    problems.append((at, "options", f"a {original['type']} question has none"))
            elif not isinstance(options, list):
                problems.append((at, "options", f"{len(expected)} options expected, none given"))
            elif len(options) != len(expected):
                problems.append(
                    (at, "options", f"{len(expected)} options expected, {len(options)} given")
                )
            else:
                labels = [_text(o, TEXT_MAX) or "" for o in options]
                if not all(labels):
                    problems.append((at, "options", "each option a non-empty text"))
                elif len(set(labels)) != len(labels):
                    problems.append((at, "options", "each option must appear once"))
            translated.append({"text": text or "", "options": labels})
        out[language] = {"name": name or "", "questions": translated}
    return out


def stored_translations(
    translations: Translations | None, question_ids: list[int]
) -> dict[str, Any] | None:
    """Validated translations as the survey stores them: each question's under its id (so a
    response keeps the original ids whatever the language); None when there are none."""
    if not translations:
        return None
    return {
        language: {
            "name": t["name"],
            "questions": {
                str(qid): {k: v for k, v in item.items() if v is not None}
                for qid, item in zip(question_ids, t["questions"], strict=True)
            },
        }
        for language, t in sorted(translations.items())
    }


REMINDER_MAX = 365
REMINDER_PROBLEM = (
    f"a whole number of days from 0 (no reminders) to {REMINDER_MAX}; "
    "left out, the account's setting holds"
)


def reminder_problem(value: Any) -> bool:
    """Whether ``value`` is not a survey's ``reminder_after_days`` (None: not set)."""
    if value is None:
        return False
    return not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= REMINDER_MAX


def reminder_after_days(doc: Any) -> int | None:
    """The survey file's ``reminder_after_days`` (checked by :func:`validate`): None when left
    out, the account's setting then holds (docs/reminders.md)."""
    value = doc.get("reminder_after_days") if isinstance(doc, dict) else None
    return value if isinstance(value, int) and not reminder_problem(value) else None


async def import_survey(
    conn: AsyncConnection, account_id: int, doc: Any, *, survey_id: int | None = None
) -> dict[str, Any]:
    """The survey with its questions; ``survey_id`` keeps the id clients already use
    (CustomerSure's): a taken one is refused and nothing is created."""
    if survey_id is not None:
        chosen_id(survey_id, "survey")
    name, questions, translations = validate_file(doc)
    if survey_id is not None and await repo.survey_id_taken(conn, survey_id):
        raise AdminError(f"survey id {survey_id} is already taken")
    code = new_code()
    now = utcnow()
    survey_id = await repo.insert_survey(
        conn,
        account_id=account_id,
        code=code,
        name=name,
        now=now,
        survey_id=survey_id,
        reminder_after_days=reminder_after_days(doc),
    )
    created = []
    for question in questions:
        qid = await repo.insert_question(conn, survey_id, question, now=now)
        created.append(
            {"id": qid, "text": question["text"], "type": question["type"], "nps": question["nps"]}
        )
    stored = stored_translations(translations, [q["id"] for q in created])
    if stored is not None:
        await repo.update_survey(conn, survey_id, {"translations": stored})
    return {"id": survey_id, "code": code, "name": name, "questions": created}
