"""The audit log: every change made in the console or the CLI, who made it, before and after."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from opensure.core.clock import utcnow
from opensure.db import Base, BigId, UTCDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"
    # The log page reads an account's newest events first, by id.
    __table_args__ = (Index("ix_audit_events_account_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who: a console user's e-mail (and id, kept even after the user is removed), or the
    # operating-system user who ran the CLI; ``via`` is "console" or "cli".
    actor: Mapped[str] = mapped_column(String(320))
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    via: Mapped[str] = mapped_column(String(10))
    # What: a dotted verb such as ``survey.updated``, and the object it was done to.
    action: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subject: Mapped[str] = mapped_column(String(300))
    # The object's fields before and after (null when it did not exist before or after).
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
