"""Surveys and their questions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
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


class Question(Base):
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
