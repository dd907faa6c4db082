"""idempotency keys linked to the feedback request they created

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 02:10:00.000000

Erasing a feedback request (DELETE) also rewrites the response its Idempotency-Key stored, so
a replay cannot return the erased e-mail and names; the link finds that key. Keys stored before
this revision get it from their stored Location (``…/feedback_requests/ID``). A nullable
column and an index: no table rebuild on SQLite, no rewrite of the table on PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The trailing digits of a 201's Location ending in /feedback_requests/ID; the same SQL on both.
BACKFILL = """
    UPDATE idempotency_keys
    SET feedback_request_id = CAST(substr(location, length(rtrim(location, '0123456789')) + 1)
                                   AS BIGINT)
    WHERE feedback_request_id IS NULL AND status_code = 201
      AND location <> rtrim(location, '0123456789')
      AND rtrim(location, '0123456789') LIKE '%/feedback_requests/'
"""


def upgrade() -> None:
    op.add_column(
        "idempotency_keys",
        sa.Column(
            "feedback_request_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
    )
    op.create_index(
        op.f("ix_idempotency_keys_feedback_request_id"),
        "idempotency_keys",
        ["feedback_request_id"],
        unique=False,
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_feedback_request_id"), table_name="idempotency_keys")
    # SQLite drops a column in place since 3.35; the batch form also works on older ones.
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("feedback_request_id")
