"""Surveys, their questions and the questions' revisions.

Editing never rewrites history (ARCHITECTURE.md, "Survey versions"): a question keeps its id
for life, and each change of what a customer is shown (text, options, scale, required,
position) adds a revision; an answer points to the revision it was given under. A removed
question is marked, never deleted, so its answers keep reading as they were given."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opensure.core.clock import utcnow
from opensure.db import Base, BigId, UTCDateTime

QUESTION_TYPES = ("rating", "text", "dropdown", "radio", "checkbox")
# How the API names each type (``feedback_responses[].answers[].type``).
TYPE_NAMES = {
    "rating": "Rating",
    "text": "Text",
    "dropdown": "Dropdown",
    "radio": "Radio",
    "checkbox": "Checkbox",
}


class Survey(Base):
    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # The public code in survey URLs (/s/{code}); not the id.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when the survey is removed; pending requests for it are then not sent.
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # 1 when created, one more with each saved change of its questions or name.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # None: the account's reminder_after_days; 0: no reminders for this survey; N: after N days.
    reminder_after_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The survey's own texts in other languages (issue 16 §2), keyed by normalised BCP 47 tag:
    # ``{"fr": {"name": ..., "questions": {"<question id>": {"text": ..., "options": [...]}}}}``.
    # Keyed by question id so answers keep the original ids; null when there are none.
    translations: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Question(Base):
    """A question's identity (its id is the API's ``question_id``) and its current revision.

    ``type`` and ``nps`` never change after creation (metrics read ratings by question); the
    other columns mirror the current revision (``revision_id``), which pages and e-mails show."""

    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    nps: Mapped[bool] = mapped_column(Boolean, default=False)
    scale_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    scale_max: Mapped[int | None] = mapped_column(Integer, nullable=True)
    options: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    # The current revision (question_revisions.id; no foreign key: the two tables point at
    # each other). Set whenever the question is created or changed.
    revision_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Set when the question is removed from the survey: no longer asked, its answers kept.
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class QuestionRevision(Base):
    """What the customer was shown for one question, from one survey version on."""

    __tablename__ = "question_revisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), index=True
    )
    survey_version: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    required: Mapped[bool] = mapped_column(Boolean)
    nps: Mapped[bool] = mapped_column(Boolean)
    scale_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    scale_max: Mapped[int | None] = mapped_column(Integer, nullable=True)
    options: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
