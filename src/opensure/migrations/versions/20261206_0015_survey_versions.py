"""survey versions: question revisions, removed questions, and the revision each answer was
given under

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-06 07:30:00.000000

Editing a survey never rewrites history: each question gets its first revision (version 1 of
its survey), each answer points to it, and later edits add revisions. Nothing is rewritten on
the answers but the new column (no trigger of 0003/0009/0011 watches it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from opensure.db import BigId, UTCDateTime

revision: str = "0015"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "question_revisions",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "question_id",
            BigId,
            sa.ForeignKey(
                "questions.id",
                ondelete="CASCADE",
                name="fk_question_revisions_question_id_questions",
            ),
            nullable=False,
        ),
        sa.Column("survey_version", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("required", sa.Boolean, nullable=False),
        sa.Column("nps", sa.Boolean, nullable=False),
        sa.Column("scale_min", sa.Integer, nullable=True),
        sa.Column("scale_max", sa.Integer, nullable=True),
        sa.Column("options", sa.JSON, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_question_revisions_question_id", "question_revisions", ["question_id"])
    op.add_column("questions", sa.Column("revision_id", sa.BigInteger, nullable=True))
    op.add_column("questions", sa.Column("removed_at", UTCDateTime, nullable=True))
    op.add_column("surveys", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.add_column("surveys", sa.Column("updated_at", UTCDateTime, nullable=True))
    op.add_column("answers", sa.Column("question_revision_id", sa.BigInteger, nullable=True))
    op.execute(
        "INSERT INTO question_revisions (question_id, survey_version, position, type, text, "
        "required, nps, scale_min, scale_max, options, created_at) "
        "SELECT q.id, 1, q.position, q.type, q.text, q.required, q.nps, q.scale_min, "
        "q.scale_max, q.options, s.created_at FROM questions q JOIN surveys s ON s.id = q.survey_id"
    )
    op.execute(
        "UPDATE questions SET revision_id = "
        "(SELECT r.id FROM question_revisions r WHERE r.question_id = questions.id)"
    )
    op.execute(
        "UPDATE answers SET question_revision_id = "
        "(SELECT q.revision_id FROM questions q WHERE q.id = answers.question_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("surveys") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("version")
    with op.batch_alter_table("questions") as batch:
        batch.drop_column("removed_at")
        batch.drop_column("revision_id")
    op.drop_column("answers", "question_revision_id")
    op.drop_index("ix_question_revisions_question_id", table_name="question_revisions")
    op.drop_table("question_revisions")
