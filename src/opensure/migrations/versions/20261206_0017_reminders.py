"""reminders: reminder_after_days on accounts and surveys; a request's reminder due and sent

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 10:30:00.000000

``accounts.reminder_after_days`` (0 = off) and ``surveys.reminder_after_days`` (NULL: the
account's setting; 0 = off for this survey). A request gets ``reminder_due_at`` when its first
e-mail is recorded sent (sent_at + the days in force then) and ``reminder_sent_at`` once its one
reminder has gone; the dispatcher's claim of due reminders reads a partial index holding only
the reminders still to send (docs/reminders.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from opensure.db import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "reminder_sent_at IS NULL AND reminder_due_at IS NOT NULL"


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("reminder_after_days", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("surveys", sa.Column("reminder_after_days", sa.Integer(), nullable=True))
    op.add_column("feedback_requests", sa.Column("reminder_due_at", UTCDateTime, nullable=True))
    op.add_column("feedback_requests", sa.Column("reminder_sent_at", UTCDateTime, nullable=True))
    op.create_index(
        "ix_feedback_requests_reminder_due",
        "feedback_requests",
        ["reminder_due_at", "id"],
        postgresql_where=sa.text(WAITING),
        sqlite_where=sa.text(WAITING),
    )


def downgrade() -> None:
    op.drop_index("ix_feedback_requests_reminder_due", table_name="feedback_requests")
    with op.batch_alter_table("feedback_requests") as batch:
        batch.drop_column("reminder_sent_at")
        batch.drop_column("reminder_due_at")
    with op.batch_alter_table("surveys") as batch:
        batch.drop_column("reminder_after_days")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("reminder_after_days")
