"""Feedback requests (scheduled survey emails) and feedback responses (answers)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from opensure.core.clock import utcnow
from opensure.db import Base, BigId, UTCDateTime

STATES = ("pending", "sent", "not_sent")
REMINDER_WAITING = "reminder_sent_at IS NULL AND reminder_due_at IS NOT NULL"


class FeedbackRequest(Base):
    __tablename__ = "feedback_requests"
    __table_args__ = (
        # The list endpoint: newest send_at first, per account, optionally by state.
        Index("ix_feedback_requests_account_send_at", "account_id", "send_at", "id"),
        Index("ix_feedback_requests_account_state_send_at", "account_id", "state", "send_at", "id"),
        # Metrics count requests by the time they were sent.
        Index("ix_feedback_requests_account_sent_at", "account_id", "sent_at"),
        # The minimum interval between surveys to one address.
        Index(
            "ix_feedback_requests_account_email_sent_at",
            "account_id",
            "email_normalized",
            "sent_at",
        ),
        # The console's queue: search by reference (migration 0010).
        Index("ix_feedback_requests_account_reference", "account_id", "reference"),
        # The dispatcher's claim: due pending requests, oldest first.
        Index(
            "ix_feedback_requests_due",
            "send_at",
            "id",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        # The dispatcher's claim of due reminders: only the ones still to send (migration 0017).
        Index(
            "ix_feedback_requests_reminder_due",
            "reminder_due_at",
            "id",
            postgresql_where=text(REMINDER_WAITING),
            sqlite_where=text(REMINDER_WAITING),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    email_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_templates.id", ondelete="SET NULL"), nullable=True
    )
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    # opensure.core.emails.normalise_email(email): what lookups compare.
    email_normalized: Mapped[str | None] = mapped_column(String(254), nullable=True)
    first_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    surname: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(100), nullable=True)
    machine_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    send_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    not_sent_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivery_failure: Mapped[str | None] = mapped_column(Text, nullable=True)
    deletion_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The unguessable token in the survey link; ties an answer to this request.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL"), nullable=True
    )
    site_id: Mapped[int | None] = mapped_column(
        ForeignKey("sites.id", ondelete="SET NULL"), nullable=True
    )
    # Dispatch bookkeeping.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When delivery first failed temporarily; retries stop once the retry window has passed.
    first_failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The one reminder (docs/reminders.md): due at sent_at + the days in force when the first
    # e-mail was recorded sent (None: no reminder, or no longer one), and when it went. A sent
    # request's reminder is claimed with the lease columns above, as a pending request is.
    reminder_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminder_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class FeedbackRequestItem(Base):
    """One ``data`` item or ``query_params`` pair of a feedback request, in the order sent."""

    __tablename__ = "feedback_request_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    feedback_request_id: Mapped[int] = mapped_column(
        ForeignKey("feedback_requests.id", ondelete="CASCADE"), index=True
    )
    # "data" or "query_param"
    kind: Mapped[str] = mapped_column(String(12))
    key: Mapped[str] = mapped_column(String(30))
    value: Mapped[str] = mapped_column(String(100))


class RequestSegmentOption(Base):
    __tablename__ = "request_segment_options"
    __table_args__ = (UniqueConstraint("feedback_request_id", "segment_option_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    feedback_request_id: Mapped[int] = mapped_column(
        ForeignKey("feedback_requests.id", ondelete="CASCADE")
    )
    segment_option_id: Mapped[int] = mapped_column(
        ForeignKey("segment_options.id", ondelete="CASCADE"), index=True
    )


class FeedbackResponse(Base):
    __tablename__ = "feedback_responses"
    __table_args__ = (
        Index("ix_feedback_responses_account_submitted", "account_id", "submitted_at", "id"),
        Index("ix_feedback_responses_account_updated", "account_id", "updated_at", "id"),
        Index("ix_feedback_responses_account_email_normalized", "account_id", "email_normalized"),
        # The console's inbox filtered by one staff member, team or site, newest first.
        Index("ix_feedback_responses_staff_id_submitted", "staff_id", "submitted_at", "id"),
        Index("ix_feedback_responses_team_id_submitted", "team_id", "submitted_at", "id"),
        Index("ix_feedback_responses_site_id_submitted", "site_id", "submitted_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    feedback_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("feedback_requests.id", ondelete="SET NULL"), nullable=True, unique=True
    )
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    # opensure.core.emails.normalise_email(email): what the list's email filter compares.
    email_normalized: Mapped[str | None] = mapped_column(String(254), nullable=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    telephone_number: Mapped[str | None] = mapped_column(String(50), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(100), nullable=True)
    machine_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL"), nullable=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), nullable=True
    )
    site_id: Mapped[int | None] = mapped_column(
        ForeignKey("sites.id", ondelete="SET NULL"), nullable=True
    )
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# The text search over answers (migration 0009) is not in this metadata: a GIN index on an
# expression (PostgreSQL) and an FTS5 table kept by triggers (SQLite) have no spelling that
# both engines share. Schema comparisons (Alembic's autogenerate, tests/test_migrations.py)
# leave these names alone.
ANSWER_SEARCH = "answers_search"  # the FTS5 table on SQLite (and its shadow tables' prefix)
ANSWER_SEARCH_INDEX = "ix_answers_search"  # the GIN index on PostgreSQL


def kept_outside_metadata(name: str | None) -> bool:
    """Whether a table or index of the database is one the models do not describe."""
    return name is not None and (name == ANSWER_SEARCH_INDEX or name.startswith(ANSWER_SEARCH))


def described(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic's ``include_name`` hook: compare only what the models describe."""
    return type_ not in ("table", "index") or not kept_outside_metadata(name)


class Answer(Base):
    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("feedback_response_id", "question_id"),
        # The metrics' ratings of a few thousand responses, read from the index alone.
        Index(
            "ix_answers_response_question_rating", "feedback_response_id", "question_id", "rating"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    feedback_response_id: Mapped[int] = mapped_column(
        ForeignKey("feedback_responses.id", ondelete="CASCADE")
    )
    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), index=True
    )
    # The question's revision the answer was given under (question_revisions.id): what the
    # customer was shown, whatever the question says today. Always written by the app; no
    # foreign key, so that writing an answer stays one insert.
    question_revision_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The answer as the API returns it (checkbox choices joined by ", ").
    value: Mapped[str] = mapped_column(Text)
    # Rating answers as a number, for metrics.
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)


def max_length(column: Any) -> int:
    """The length a string column holds: the one source of a field's length limit."""
    length = column.type.length
    assert isinstance(length, int), f"{column} has no length"
    return length


# Length limits of what clients and customers send, from the columns that store them (the
# API's validation, its OpenAPI schemas and the survey pages' form all use these).
_request = FeedbackRequest.__table__.c
_item = FeedbackRequestItem.__table__.c
_response = FeedbackResponse.__table__.c
EMAIL_MAX = max_length(_request.email)
REQUEST_TEXT_MAX = {
    name: max_length(_request[name])
    for name in ("first_name", "surname", "reference", "machine_id")
}
ITEM_KEY_MAX = max_length(_item.key)
ITEM_VALUE_MAX = max_length(_item.value)
CONTACT_NAME_MAX = max_length(_response.name)
CONTACT_PHONE_MAX = max_length(_response.telephone_number)
# Data items and query parameters a request may carry, of each kind.
ITEMS_MAX = 50
