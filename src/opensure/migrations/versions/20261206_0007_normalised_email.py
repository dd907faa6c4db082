"""a normalised e-mail beside each request's and response's address, with the indexes lookups use

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 02:40:00.000000

The unsubscribe and minimum-interval checks and the ``email`` filter of the responses list
compared ``lower(email)``, which no index served and which SQLite folds for ASCII only. The
normalised address (``opensure.core.emails.normalise_email``: NFC, lower case) is now stored
and indexed. Existing rows are filled in Python, in chunks, so both engines normalise alike;
unsubscribes were already stored lower-cased and are normalised again in place.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from opensure.core.emails import normalise_email

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 5000


def _fill(table: str, target: str) -> None:
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                f"SELECT id, email FROM {table} WHERE id > :last AND email IS NOT NULL "
                "ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": CHUNK},
        ).all()
        if not rows:
            return
        changed = [
            {"rid": r.id, "value": normalise_email(r.email)}
            for r in rows
            if target != "email" or normalise_email(r.email) != r.email
        ]
        if changed:
            bind.execute(sa.text(f"UPDATE {table} SET {target} = :value WHERE id = :rid"), changed)
        last = rows[-1].id


def upgrade() -> None:
    for table in ("feedback_requests", "feedback_responses"):
        op.add_column(table, sa.Column("email_normalized", sa.String(254), nullable=True))
        _fill(table, "email_normalized")
    # The minimum interval: this account's requests sent to this address since a moment.
    op.create_index(
        "ix_feedback_requests_account_email_sent_at",
        "feedback_requests",
        ["account_id", "email_normalized", "sent_at"],
    )
    # GET /feedback_responses?email=
    op.drop_index("ix_feedback_responses_account_email", table_name="feedback_responses")
    op.create_index(
        "ix_feedback_responses_account_email_normalized",
        "feedback_responses",
        ["account_id", "email_normalized"],
    )
    _fill("unsubscribes", "email")


def downgrade() -> None:
    op.drop_index("ix_feedback_responses_account_email_normalized", table_name="feedback_responses")
    op.create_index(
        "ix_feedback_responses_account_email", "feedback_responses", ["account_id", "email"]
    )
    op.drop_index("ix_feedback_requests_account_email_sent_at", table_name="feedback_requests")
    for table in ("feedback_responses", "feedback_requests"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("email_normalized")
