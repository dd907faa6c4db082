"""Rules for feedback responses: saving a survey submission, reading responses back."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, get_args

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.api import timestamps
from opensure.api.errors import NotFound
from opensure.api.validation import parse_path_id
from opensure.core import csvsafe, linkback
from opensure.core.clock import utcnow
from opensure.core.emails import normalised_or_none
from opensure.db import AnyRow
from opensure.db.fast import SaSession, Session
from opensure.feedback_requests import repository as requests_repo
from opensure.feedback_requests.repository import ItemRow, RequestRow
from opensure.feedback_responses import repository as repo
from opensure.feedback_responses.repository import (
    AnswerRow,
    Attribution,
    Choice,
    Cursor,
    InboxFilter,
    ResponseRow,
)
from opensure.feedback_responses.schemas import to_json
from opensure.metrics import definitions
from opensure.metrics.definitions import Band
from opensure.models.surveys import TYPE_NAMES
from opensure.stores import webhooks as outbox


async def save_submission(
    conn: AsyncConnection,
    *,
    survey: AnyRow,
    request: AnyRow | None,
    contact: dict[str, str | None],
    answers: dict[int, tuple[str, int | None]],
) -> int:
    """Store answers. Through an emailed link, answering again updates the same response.
    The webhook event (``feedback_response.created`` or ``.updated``) is written in the same
    transaction."""
    response_id, created = await _save(conn, survey, request, contact, answers, utcnow())
    kind = RESPONSE_CREATED if created else RESPONSE_UPDATED
    await _emit(conn, survey.account_id, response_id, kind)
    return response_id


RESPONSE_CREATED = "feedback_response.created"
RESPONSE_UPDATED = "feedback_response.updated"


async def _save(
    conn: AsyncConnection,
    survey: AnyRow,
    request: AnyRow | None,
    contact: dict[str, str | None],
    answers: dict[int, tuple[str, int | None]],
    now: dt.datetime,
) -> tuple[int, bool]:
    """(response id, whether it is new)."""
    if request is None:
        return await _insert(conn, survey, None, contact, answers, now), True
    existing = await repo.response_for_request(conn, request.id)
    if existing is None:
        try:
            async with conn.begin_nested():
                return await _insert(conn, survey, request, contact, answers, now), True
        except IntegrityError:
            # The same link submitted twice at once: the other submission won; update it.
            existing = await repo.response_for_request(conn, request.id)
            if existing is None:
                raise
    await repo.touch_response(conn, existing, {"updated_at": now})
    await repo.replace_answers(conn, existing, answers)
    return existing, False


async def _emit(conn: AsyncConnection, account_id: int, response_id: int, kind: str) -> None:
    """The response's webhook event, as ``GET /feedback_responses/{id}`` shows it, for the
    account's endpoints that want it (one indexed look-up when there are none)."""
    session = SaSession(conn)
    endpoints = await outbox.subscribed(session, account_id, kind)
    if endpoints:
        data = await get(session=session, account_id=account_id, response_id=response_id)
        await outbox.insert(session, [(e, kind, data) for e in endpoints], utcnow())


async def _insert(
    conn: AsyncConnection,
    survey: AnyRow,
    request: AnyRow | None,
    contact: dict[str, str | None],
    answers: dict[int, tuple[str, int | None]],
    now: Any,
) -> int:
    values: dict[str, Any] = {
        "account_id": survey.account_id,
        "survey_id": survey.id,
        "submitted_at": now,
        "updated_at": now,
    }
    if request is not None:
        name = " ".join(p for p in (request.first_name, request.surname) if p) or None
        values.update(
            feedback_request_id=request.id,
            email=request.email,
            name=name,
            reference=request.reference,
            machine_id=request.machine_id,
            staff_id=request.staff_id,
            team_id=request.team_id,
            site_id=request.site_id,
        )
    else:
        values.update(contact)
    values["email_normalized"] = normalised_or_none(values.get("email"))
    response_id = await repo.insert_response(conn, values)
    await repo.replace_answers(conn, response_id, answers)
    return response_id


async def render_many(session: Session, rows: list[ResponseRow]) -> list[dict[str, Any]]:
    """The responses' JSON, with their answers and the requests they answer: two statements."""
    answers = await repo.answers_for(session, [r.id for r in rows])
    request_ids = [r.feedback_request_id for r in rows if r.feedback_request_id is not None]
    requests = await requests_repo.many(session, request_ids)
    return [
        to_json(
            r, answers[r.id], requests.get(r.feedback_request_id) if r.feedback_request_id else None
        )
        for r in rows
    ]


async def get(*, session: Session, account_id: int, response_id: int | None) -> dict[str, Any]:
    row = await repo.get(session, account_id, response_id) if response_id else None
    if row is None:
        raise NotFound()
    return (await render_many(session, [row]))[0]


# ---- the console's inbox, response page and CSV export ----

PAGE_SIZE = 50
EXPORT_BATCH = 1000
EXCERPT = 160  # characters of a comment the inbox shows
SEARCH_WORDS_MAX = 10
SEARCH_TEXT_MAX = 200
BANDS: tuple[Band, ...] = get_args(Band)
# The query parameters of the inbox and its export (``survey_ids[]`` also as ``survey_ids``).
FILTER_PARAMS = (
    "survey_ids",
    "from_time",
    "to_time",
    "band",
    "score",
    "staff_id",
    "team_id",
    "site_id",
    "segment_option_id",
    "has_comment",
    "q",
)
_WORD = re.compile(r"[^\W_]+")  # letters and digits: how both engines' tokenizers split text
_CURSOR = re.compile(r"(\d{20})-(\d{1,19})")


class BadFilter(ValueError):
    """Filter values the inbox cannot use: a readable message for each field."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


def search_words(text: str) -> tuple[str, ...]:
    """The words of a search, as the search indexes split text: runs of letters and digits."""
    return tuple(_WORD.findall(text))


def _one(query: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = [v for v in query.get(name, ()) if v.strip()]
    return values[-1].strip() if values else None


def _id(problems: dict[str, str], name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    number = parse_path_id(raw)
    if number is None:
        problems[name] = "Choose one from the list."
    return number


def _time(problems: dict[str, str], name: str, raw: str | None) -> dt.datetime | None:
    if raw is None:
        return None
    parsed = timestamps.parse(raw)
    if parsed is None:
        problems[name] = "Enter a date and time such as 2026-12-01T09:30:00Z."
    return parsed


def parse_filter(query: Mapping[str, Sequence[str]]) -> InboxFilter:
    """The inbox filter from query parameters (name → every value given); ``BadFilter``
    names each value that is not one.

    The time window is inclusive at both ends in whole seconds, as the API's metrics windows:
    ``to_time=…T23:59:59Z`` takes in a response stored at 23:59:59.4."""
    problems: dict[str, str] = {}
    survey_ids: list[int] = []
    for raw in [*query.get("survey_ids[]", ()), *query.get("survey_ids", ())]:
        for part in raw.split(","):
            if part.strip():
                number = _id(problems, "survey_ids", part.strip())
                if number is not None and number not in survey_ids:
                    survey_ids.append(number)
    start = _time(problems, "from_time", _one(query, "from_time"))
    end = _time(problems, "to_time", _one(query, "to_time"))
    if end is not None:
        end = end.replace(microsecond=0) + dt.timedelta(seconds=1, microseconds=-1)
    if start is not None and end is not None and start > end:
        problems["to_time"] = "The end of the period must not be before its start."
    band = _one(query, "band")
    if band is not None and band not in BANDS:
        problems["band"] = "Choose promoter, passive or detractor."
        band = None
    raw_score = _one(query, "score")
    score = None
    if raw_score is not None:
        if raw_score.isascii() and raw_score.isdigit() and int(raw_score) in definitions.SCALE:
            score = int(raw_score)
        else:
            problems["score"] = "Choose a score from 0 to 10."
    raw_comment = _one(query, "has_comment")
    if raw_comment not in (None, "1", "0"):
        problems["has_comment"] = "Tick the box or leave it empty."
    text = _one(query, "q") or ""
    words = search_words(text)
    if len(text) > SEARCH_TEXT_MAX or len(words) > SEARCH_WORDS_MAX:
        problems["q"] = (
            f"Search for at most {SEARCH_WORDS_MAX} words ({SEARCH_TEXT_MAX} characters)."
        )
    elif text and not words:
        problems["q"] = "Search for words: letters or digits."
    filters = InboxFilter(
        survey_ids=tuple(survey_ids),
        start=start,
        end=end,
        band=band,  # checked against BANDS above
        score=score,
        staff_id=_id(problems, "staff_id", _one(query, "staff_id")),
        team_id=_id(problems, "team_id", _one(query, "team_id")),
        site_id=_id(problems, "site_id", _one(query, "site_id")),
        segment_option_id=_id(problems, "segment_option_id", _one(query, "segment_option_id")),
        has_comment=raw_comment == "1",
        words=words,
    )
    if problems:
        raise BadFilter(problems)
    return filters


def row_time(row: ResponseRow) -> dt.datetime:
    """When ``row`` was submitted, as an aware datetime (the driver gives text on SQLite)."""
    value = row.submitted_at
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return dt.datetime.fromisoformat(str(value)).replace(tzinfo=dt.UTC)


def cursor_text(row: ResponseRow) -> str:
    """The ``after`` parameter of the page that follows ``row``."""
    return f"{row_time(row):%Y%m%d%H%M%S%f}-{row.id}"


def parse_cursor(raw: str | None) -> Cursor | None:
    if raw is None or not raw.strip():
        return None
    m = _CURSOR.fullmatch(raw.strip())
    try:
        if m is None:
            raise ValueError(raw)
        at = dt.datetime.strptime(m[1], "%Y%m%d%H%M%S%f").replace(tzinfo=dt.UTC)
    except ValueError:
        raise BadFilter({"after": "This page link is broken: start from the first page."}) from None
    return Cursor(at, int(m[2]))


@dataclass(frozen=True)
class InboxItem:
    id: int
    submitted_at: str  # YYYY-MM-DDTHH:MM:SSZ
    survey_id: int
    score: int | None  # the rating of the survey's NPS question
    band: Band | None
    comment: str | None  # the first comment, shortened to EXCERPT characters
    name: str | None
    email: str | None
    reference: str | None


@dataclass(frozen=True)
class InboxPage:
    items: list[InboxItem]
    after: str | None  # the next page's cursor; None on the last page


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """``text`` on one line, cut at a word boundary to ``limit`` characters (with an ellipsis)."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


def nps_rating(answers: Sequence[AnswerRow]) -> int | None:
    return next((a.rating for a in answers if a.nps and a.rating is not None), None)


def _comment(answers: Sequence[AnswerRow]) -> str | None:
    return next((a.value for a in answers if a.type == "text" and a.value.strip()), None)


async def inbox(
    session: Session, account_id: int, filters: InboxFilter, after: Cursor | None
) -> InboxPage:
    """One page of the inbox: two statements (the page, then its answers)."""
    rows = await repo.inbox_page(session, account_id, filters, after, PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    answers = await repo.answers_for(session, [r.id for r in rows])
    items = []
    for r in rows:
        score = nps_rating(answers[r.id])
        comment = _comment(answers[r.id])
        items.append(
            InboxItem(
                id=r.id,
                submitted_at=timestamps.format(r.submitted_at) or "",
                survey_id=r.survey_id,
                score=score,
                band=definitions.band(score) if score is not None else None,
                comment=excerpt(comment) if comment is not None else None,
                name=r.name,
                email=r.email,
                reference=r.reference,
            )
        )
    return InboxPage(items, cursor_text(rows[-1]) if more else None)


@dataclass(frozen=True)
class Choices:
    """What the inbox's filter form offers, each list ordered for people to read."""

    surveys: list[Choice] = field(default_factory=list)
    staff: list[Choice] = field(default_factory=list)
    teams: list[Choice] = field(default_factory=list)
    sites: list[Choice] = field(default_factory=list)
    segment_options: list[Choice] = field(default_factory=list)


async def filter_choices(session: Session, account_id: int) -> Choices:
    found = Choices()
    lists = {
        "survey": found.surveys,
        "staff": found.staff,
        "team": found.teams,
        "site": found.sites,
        "segment": found.segment_options,
    }
    for choice in await repo.choices(session, account_id):
        lists[choice.kind].append(choice)
    return found


@dataclass(frozen=True)
class AnswerShown:
    question_id: int
    question: str
    type: str  # as the API names it: Rating, Text, Dropdown, Radio, Checkbox
    answer: str
    band: Band | None  # for the rating of an NPS question


@dataclass(frozen=True)
class ResponseDetail:
    response: ResponseRow
    answers: list[AnswerShown]
    attribution: Attribution
    request: RequestRow | None
    items: list[ItemRow]  # the request's data and query parameters
    segments: list[tuple[str, str]]  # (segment key, option) of the request
    link_back: str | None  # the reference's link to its ticket (opensure.core.linkback)


async def detail(session: Session, account_id: int, response_id: int) -> ResponseDetail | None:
    """Everything the response page shows; None for a response the account does not have."""
    row = await repo.get(session, account_id, response_id)
    found = await repo.attribution(session, account_id, response_id)
    if row is None or found is None:
        return None
    answers = (await repo.answers_for(session, [row.id]))[row.id]
    request: RequestRow | None = None
    items: list[ItemRow] = []
    segments: list[tuple[str, str]] = []
    if row.feedback_request_id is not None:
        with_items = await requests_repo.get(session, account_id, row.feedback_request_id)
        if with_items is not None:
            request, items = with_items
            segments = await repo.segments_of(session, request.id)
    shown = [
        AnswerShown(
            question_id=a.question_id,
            question=a.text,
            type=TYPE_NAMES.get(a.type, a.type),
            answer=a.value,
            band=definitions.band(a.rating) if a.nps and a.rating is not None else None,
        )
        for a in answers
    ]
    link = linkback.link_back(
        found.link_back_template, reference=row.reference, machine_id=row.machine_id
    )
    return ResponseDetail(row, shown, found, request, items, segments, link)


EXPORT_COLUMNS = (
    "id",
    "submitted_at",
    "updated_at",
    "survey_id",
    "email",
    "name",
    "telephone_number",
    "reference",
    "machine_id",
)

Reader = Callable[[], AbstractAsyncContextManager[Session]]


def question_headers(questions: Sequence[repo.QuestionRow]) -> list[str]:
    """A column title per question: its text, and its id where two questions share a text."""
    seen: set[str] = set()
    titles = []
    for q in questions:
        title = q.text if q.text not in seen else f"{q.text} (question {q.id})"
        seen.add(q.text)
        titles.append(title)
    return titles


async def export(
    read: Reader, account_id: int, filters: InboxFilter, batch: int = EXPORT_BATCH
) -> AsyncIterator[list[list[str]]]:
    """The CSV rows of the inbox's responses, the header first, in batches of ``batch``
    responses read by keyset, each batch on a connection of its own (``read()``), so memory
    and connections stay flat however many rows there are and however slow the client.
    Every cell has been through :mod:`opensure.core.csvsafe`."""
    async with read() as session:
        questions = await repo.questions(session, account_id, filters.survey_ids)
    yield [csvsafe.row([*EXPORT_COLUMNS, *question_headers(questions)])]
    column = {q.id: n for n, q in enumerate(questions)}
    after: Cursor | None = None
    while True:
        async with read() as session:
            rows = await repo.inbox_page(session, account_id, filters, after, batch)
            answers = await repo.answers_for(session, [r.id for r in rows])
        out = []
        for r in rows:
            cells: list[Any] = [None] * len(questions)
            for a in answers[r.id]:
                if a.question_id in column:
                    cells[column[a.question_id]] = a.value
            out.append(
                csvsafe.row(
                    [
                        r.id,
                        timestamps.format(r.submitted_at),
                        timestamps.format(r.updated_at),
                        r.survey_id,
                        r.email,
                        r.name,
                        r.telephone_number,
                        r.reference,
                        r.machine_id,
                        *cells,
                    ]
                )
            )
        if out:
            yield out
        if len(rows) < batch:
            return
        after = Cursor(row_time(rows[-1]), rows[-1].id)
