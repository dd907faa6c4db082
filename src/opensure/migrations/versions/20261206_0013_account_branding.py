"""account settings and branding: a display name, sender name, reply-to, colour and logo

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 07:30:00.000000

The company name shown in e-mails and on survey pages (``display_name``; the unique ``name``
stays the operator's handle), the From display name and Reply-To address of survey e-mails, a
brand colour, and the logo's bytes in a table of their own (read only when it is served).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from opensure.db import BigId, UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("display_name", 200),
    ("sender_name", 100),
    ("reply_to", 254),
    ("brand_colour", 7),
)


def upgrade() -> None:
    for name, length in COLUMNS:
        op.add_column("accounts", sa.Column(name, sa.String(length), nullable=True))
    op.create_table(
        "account_logos",
        sa.Column(
            "account_id",
            BigId,
            sa.ForeignKey(
                "accounts.id", ondelete="CASCADE", name="fk_account_logos_account_id_accounts"
            ),
            nullable=False,
        ),
        sa.Column("content_type", sa.String(20), nullable=False),
        sa.Column("bytes", sa.LargeBinary, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_account_logos"),
    )


def downgrade() -> None:
    op.drop_table("account_logos")
    with op.batch_alter_table("accounts", schema=None) as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
