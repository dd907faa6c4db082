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
from opensure.db.ids import chosen_id
from opensure.models.surveys import QUESTION_TYPES
from opensure.surveys import repository as repo

QUESTION_KEYS = {"type", "text", "nps", "scale", "options", "required"}
WITH_OPTIONS = {"dropdown", "radio", "checkbox"}
_ALPHABET = string.ascii_letters + string.digits


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


def validate(doc: Any) -> tuple[str, list[dict[str, Any]]]:
    """The survey name and normalised questions, or AdminError listing every problem."""
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise AdminError("the survey file must be a mapping with 'name' and 'questions'")
    unknown = set(doc) - {"name", "questions"}
    if unknown:
        problems.append(f"{', '.join(sorted(unknown))}: unknown field (expected name, questions)")
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("name: required, a non-empty string")
    elif len(name) > 200:
        problems.append("name: longer than 200 characters")
    questions = doc.get("questions")
    out: list[dict[str, Any]] = []
    if not isinstance(questions, list) or not questions:
        problems.append("questions: required, a non-empty list")
        questions = []
    for i, q in enumerate(questions):
        where = f"questions[{i}]"
        if not isinstance(q, dict):
            problems.append(f"{where}: must be a mapping with type and text")
            continue
        for key in sorted(set(q) - QUESTION_KEYS):
            problems.append(f"{where}.{key}: unknown field")
        qtype = str(q.get("type", "")).lower()
        if qtype not in QUESTION_TYPES:
            problems.append(f"{where}.type: must be one of {', '.join(QUESTION_TYPES)}")
        text = q.get("text")
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}.text: required, a non-empty string")
        nps = q.get("nps", False)
        if not isinstance(nps, bool):
            problems.append(f"{where}.nps: must be true or false")
            nps = False
        required = q.get("required", True)
        if not isinstance(required, bool):
            problems.append(f"{where}.required: must be true or false")
        if nps and qtype != "rating":
            problems.append(f"{where}.nps: only a rating question can be an NPS question")
        scale_min = scale_max = None
        if qtype == "rating":
            scale = q.get("scale", [0, 10])
            if (
                not isinstance(scale, list)
                or len(scale) != 2
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in scale)
                or scale[0] >= scale[1]
            ):
                problems.append(f"{where}.scale: must be [min, max], whole numbers, min < max")
            elif nps and scale != [0, 10]:
                problems.append(f"{where}.scale: an NPS question is always rated 0 to 10")
            else:
                scale_min, scale_max = scale
        elif "scale" in q:
            problems.append(f"{where}.scale: only a rating question has a scale")
        options = q.get("options")
        if qtype in WITH_OPTIONS:
            if (
                not isinstance(options, list)
                or not options
                or not all(isinstance(o, str | int | float) and str(o).strip() for o in options)
            ):
                problems.append(
                    f"{where}.options: required for a {qtype} question, a list of texts"
                )
                options = None
            else:
                options = [str(o).strip() for o in options]
                if len(set(options)) != len(options):
                    problems.append(f"{where}.options: each option must appear once")
        elif options is not None:
            problems.append(
                f"{where}.options: only dropdown, radio and checkbox questions have options"
            )
            options = None
        out.append(
            {
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
    if problems:
        raise AdminError("invalid survey file:\n  " + "\n  ".join(problems))
    assert isinstance(name, str)
    return name.strip(), out


async def import_survey(
    conn: AsyncConnection, account_id: int, doc: Any, *, survey_id: int | None = None
) -> dict[str, Any]:
    """The survey with its questions; ``survey_id`` keeps the id clients already use
    (CustomerSure's): a taken one is refused and nothing is created."""
    if survey_id is not None:
        chosen_id(survey_id, "survey")
    name, questions = validate(doc)
    if survey_id is not None and await repo.survey_id_taken(conn, survey_id):
        raise AdminError(f"survey id {survey_id} is already taken")
    code = new_code()
    survey_id = await repo.insert_survey(
        conn, account_id=account_id, code=code, name=name, now=utcnow(), survey_id=survey_id
    )
    created = []
    for question in questions:
        qid = await repo.insert_question(conn, survey_id, question)
        created.append(
            {"id": qid, "text": question["text"], "type": question["type"], "nps": question["nps"]}
        )
    return {"id": survey_id, "code": code, "name": name, "questions": created}
