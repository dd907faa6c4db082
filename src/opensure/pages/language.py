"""The language of a survey page (SPEC §10), chosen in one place: the request's data item
``language``, else (an anonymous page, or a request without one) the browser's
``Accept-Language``; and the survey's own texts in that language when it has a translation.

Answers are always given in the original's values: a translated option shows its label but
posts the original option, so responses, metrics and exports stay one survey."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from starlette.requests import Request

from opensure.core.languages import DEFAULT, survey_translation


def requested_language(request: Request, feedback_request: Any | None) -> str:
    """What the customer asked for: a BCP 47 tag or an ``Accept-Language`` header ("" none)."""
    tag = getattr(feedback_request, "language", None)
    if isinstance(tag, str) and tag.strip():
        return tag.strip()
    return request.headers.get("accept-language", "")


@dataclass(frozen=True)
class Shown:
    """The survey as the page shows it: its name, its questions (each with ``labels``, the
    (value, label) of every option) and the language they are in."""

    language: str
    name: str
    questions: list[Any]


def shown(
    request: Request, feedback_request: Any | None, survey: Any, questions: list[Any]
) -> Shown:
    """The survey's texts in the page's language, or the original's when it has none."""
    found = survey_translation(
        getattr(survey, "translations", None), requested_language(request, feedback_request)
    )
    if found is None:
        return Shown(DEFAULT, survey.name, [_view(q, None) for q in questions])
    language, translation = found
    by_id = translation.get("questions") or {}
    return Shown(
        language,
        translation.get("name") or survey.name,
        [_view(q, by_id.get(str(q.id))) for q in questions],
    )


def _view(question: Any, translated: dict[str, Any] | None) -> Any:
    """The question with its translated text and option labels (each falling back to the
    original when missing, as for a question added after the translation was saved)."""
    values = dict(question._mapping)
    options = list(question.options or [])
    labels = options
    if translated is not None:
        values["text"] = translated.get("text") or question.text
        given = translated.get("options")
        if isinstance(given, list) and len(given) == len(options):
            labels = [str(label) for label in given]
    return SimpleNamespace(**values, labels=list(zip(options, labels, strict=True)))
