"""the audit log of changes made in the console and the CLI

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 07:10:00.000000

One row per change: who (a console user or the CLI's operating-system user), what (a verb and
the object), when, and the object's fields before and after, as JSON.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from opensure.db import BigId, UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "account_id",
            BigId,
            sa.ForeignKey(
                "accounts.id", ondelete="CASCADE", name="fk_audit_events_account_id_accounts"
            ),
            nullable=False,
        ),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("actor_user_id", sa.BigInteger, nullable=True),
        sa.Column("via", sa.String(10), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("subject_type", sa.String(30), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=True),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
    )
    op.create_index("ix_audit_events_account_id", "audit_events", ["account_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_account_id", table_name="audit_events")
    op.drop_table("audit_events")
