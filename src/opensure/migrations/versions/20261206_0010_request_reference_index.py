"""an index on each account's feedback requests by reference, for the console's queue search

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 04:40:00.000000

The queue finds an account's requests by reference (exactly) or by e-mail address; the address
has an index since 0007, the reference had none, so a search walked the account's whole list
(hundreds of milliseconds at a million requests on PostgreSQL). Only an index: no table
rewrite on either engine.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_feedback_requests_account_reference", "feedback_requests", ["account_id", "reference"]
    )


def downgrade() -> None:
    op.drop_index("ix_feedback_requests_account_reference", table_name="feedback_requests")
