"""survey translations: a survey's own name, questions and options in other languages

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 10:30:00.000000

One JSON column on the survey, keyed by language and, inside, by question id (so responses
keep the original question ids; ARCHITECTURE.md "Survey translations"). Null: none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("surveys", sa.Column("translations", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("surveys") as batch:
        batch.drop_column("translations")
