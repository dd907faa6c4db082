"""when each API token was last used

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 08:00:00.000000

The API's token check is cached, so the time is written at most once a minute per token and
process, in the background (``api.negotiation.TokenCache``): accurate to about a minute, and
never a statement on a request's path. Null: never used since this column was added.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from opensure.db import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("last_used_at", UTCDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_column("last_used_at")
