"""metric rollups

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 03:52:30.890602
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The counters are changed only by these triggers, so they stay exact whatever writes the base
# tables (the API, the dispatcher, the survey pages, a bulk COPY, an operator's SQL).
# Days are UTC dates of feedback_requests.sent_at and feedback_responses.submitted_at.
TRIGGERS = [
    """
    CREATE FUNCTION opensure_bump_response_rate(a bigint, s bigint, d date, ds int, dd int, dr int)
    RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO rollup_response_rate AS r (account_id, survey_id, day, sent, delivered, replied)
      VALUES (a, s, d, ds, dd, dr)
      ON CONFLICT (account_id, survey_id, day) DO UPDATE
      SET sent = r.sent + EXCLUDED.sent,
          delivered = r.delivered + EXCLUDED.delivered,
          replied = r.replied + EXCLUDED.replied;
    END $$
    """,
    """
    CREATE FUNCTION opensure_bump_nps(a bigint, q bigint, d date, rating int, sign int)
    RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO rollup_nps AS n (account_id, question_id, day, promoters, passives, detractors)
      VALUES (a, q, d, sign * (rating >= 9)::int, sign * (rating BETWEEN 7 AND 8)::int,
              sign * (rating <= 6)::int)
      ON CONFLICT (account_id, question_id, day) DO UPDATE
      SET promoters = n.promoters + EXCLUDED.promoters,
          passives = n.passives + EXCLUDED.passives,
          detractors = n.detractors + EXCLUDED.detractors;
    END $$
    """,
    """
    CREATE FUNCTION opensure_feedback_requests_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      replied boolean;
    BEGIN
      IF TG_OP <> 'INSERT' AND OLD.state = 'sent' AND OLD.sent_at IS NOT NULL THEN
        replied := EXISTS (SELECT 1 FROM feedback_responses WHERE feedback_request_id = OLD.id);
        PERFORM opensure_bump_response_rate(
          OLD.account_id, OLD.survey_id, (OLD.sent_at AT TIME ZONE 'UTC')::date, -1,
          -(OLD.delivery_failure IS NULL)::int, -(OLD.delivery_failure IS NULL AND replied)::int);
      END IF;
      IF TG_OP <> 'DELETE' AND NEW.state = 'sent' AND NEW.sent_at IS NOT NULL THEN
        replied := EXISTS (SELECT 1 FROM feedback_responses WHERE feedback_request_id = NEW.id);
        PERFORM opensure_bump_response_rate(
          NEW.account_id, NEW.survey_id, (NEW.sent_at AT TIME ZONE 'UTC')::date, 1,
          (NEW.delivery_failure IS NULL)::int, (NEW.delivery_failure IS NULL AND replied)::int);
      END IF;
      IF TG_OP = 'DELETE' THEN
        RETURN OLD;
      END IF;
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER feedback_requests_rollup
    AFTER INSERT OR UPDATE OF state, sent_at, delivery_failure, survey_id, account_id
    ON feedback_requests FOR EACH ROW EXECUTE FUNCTION opensure_feedback_requests_rollup()
    """,
    # Deletes are counted BEFORE the row goes, while its response is still linked to it
    # (the foreign key's SET NULL runs before AFTER triggers).
    """
    CREATE TRIGGER feedback_requests_rollup_delete
    BEFORE DELETE ON feedback_requests
    FOR EACH ROW EXECUTE FUNCTION opensure_feedback_requests_rollup()
    """,
    """
    CREATE FUNCTION opensure_feedback_responses_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      req record;
      ans record;
    BEGIN
      IF TG_OP <> 'INSERT' AND OLD.feedback_request_id IS NOT NULL
         AND (TG_OP = 'DELETE' OR OLD.feedback_request_id IS DISTINCT FROM NEW.feedback_request_id)
      THEN
        SELECT account_id, survey_id, sent_at, state, delivery_failure INTO req
        FROM feedback_requests WHERE id = OLD.feedback_request_id;
        IF FOUND AND req.state = 'sent' AND req.delivery_failure IS NULL THEN
          PERFORM opensure_bump_response_rate(
            req.account_id, req.survey_id, (req.sent_at AT TIME ZONE 'UTC')::date, 0, 0, -1);
        END IF;
      END IF;
      IF TG_OP <> 'DELETE' AND NEW.feedback_request_id IS NOT NULL
         AND (TG_OP = 'INSERT' OR OLD.feedback_request_id IS DISTINCT FROM NEW.feedback_request_id)
      THEN
        SELECT account_id, survey_id, sent_at, state, delivery_failure INTO req
        FROM feedback_requests WHERE id = NEW.feedback_request_id;
        IF FOUND AND req.state = 'sent' AND req.delivery_failure IS NULL THEN
          PERFORM opensure_bump_response_rate(
            req.account_id, req.survey_id, (req.sent_at AT TIME ZONE 'UTC')::date, 0, 0, 1);
        END IF;
      END IF;
      IF TG_OP = 'DELETE' THEN
        -- BEFORE DELETE: the answers are still there, cascading deletes come after.
        FOR ans IN
          SELECT a.question_id, a.rating FROM answers a JOIN questions q ON q.id = a.question_id
          WHERE a.feedback_response_id = OLD.id AND q.nps AND a.rating IS NOT NULL
        LOOP
          PERFORM opensure_bump_nps(OLD.account_id, ans.question_id,
                                    (OLD.submitted_at AT TIME ZONE 'UTC')::date, ans.rating, -1);
        END LOOP;
        RETURN OLD;
      END IF;
      IF TG_OP = 'UPDATE' AND (OLD.submitted_at IS DISTINCT FROM NEW.submitted_at
                               OR OLD.account_id <> NEW.account_id) THEN
        FOR ans IN
          SELECT a.question_id, a.rating FROM answers a JOIN questions q ON q.id = a.question_id
          WHERE a.feedback_response_id = NEW.id AND q.nps AND a.rating IS NOT NULL
        LOOP
          PERFORM opensure_bump_nps(OLD.account_id, ans.question_id,
                                    (OLD.submitted_at AT TIME ZONE 'UTC')::date, ans.rating, -1);
          PERFORM opensure_bump_nps(NEW.account_id, ans.question_id,
                                    (NEW.submitted_at AT TIME ZONE 'UTC')::date, ans.rating, 1);
        END LOOP;
      END IF;
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER feedback_responses_rollup
    AFTER INSERT OR UPDATE OF feedback_request_id, submitted_at, account_id
    ON feedback_responses FOR EACH ROW EXECUTE FUNCTION opensure_feedback_responses_rollup()
    """,
    """
    CREATE TRIGGER feedback_responses_rollup_delete
    BEFORE DELETE ON feedback_responses
    FOR EACH ROW EXECUTE FUNCTION opensure_feedback_responses_rollup()
    """,
    """
    CREATE FUNCTION opensure_answers_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      info record;
    BEGIN
      IF TG_OP <> 'INSERT' AND OLD.rating IS NOT NULL THEN
        SELECT r.account_id, r.submitted_at INTO info
        FROM feedback_responses r JOIN questions q ON q.id = OLD.question_id
        WHERE r.id = OLD.feedback_response_id AND q.nps;
        IF FOUND THEN
          PERFORM opensure_bump_nps(info.account_id, OLD.question_id,
                                    (info.submitted_at AT TIME ZONE 'UTC')::date, OLD.rating, -1);
        END IF;
      END IF;
      IF TG_OP <> 'DELETE' AND NEW.rating IS NOT NULL THEN
        SELECT r.account_id, r.submitted_at INTO info
        FROM feedback_responses r JOIN questions q ON q.id = NEW.question_id
        WHERE r.id = NEW.feedback_response_id AND q.nps;
        IF FOUND THEN
          PERFORM opensure_bump_nps(info.account_id, NEW.question_id,
                                    (info.submitted_at AT TIME ZONE 'UTC')::date, NEW.rating, 1);
        END IF;
      END IF;
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER answers_rollup
    AFTER INSERT OR DELETE OR UPDATE OF rating, question_id, feedback_response_id
    ON answers FOR EACH ROW EXECUTE FUNCTION opensure_answers_rollup()
    """,
]
DROP_TRIGGERS = [
    "DROP TRIGGER IF EXISTS answers_rollup ON answers",
    "DROP TRIGGER IF EXISTS feedback_responses_rollup_delete ON feedback_responses",
    "DROP TRIGGER IF EXISTS feedback_responses_rollup ON feedback_responses",
    "DROP TRIGGER IF EXISTS feedback_requests_rollup_delete ON feedback_requests",
    "DROP TRIGGER IF EXISTS feedback_requests_rollup ON feedback_requests",
    "DROP FUNCTION IF EXISTS opensure_answers_rollup()",
    "DROP FUNCTION IF EXISTS opensure_feedback_responses_rollup()",
    "DROP FUNCTION IF EXISTS opensure_feedback_requests_rollup()",
    "DROP FUNCTION IF EXISTS opensure_bump_nps(bigint, bigint, date, int, int)",
    "DROP FUNCTION IF EXISTS opensure_bump_response_rate(bigint, bigint, date, int, int, int)",
]
# Also used after bulk loads with triggers disabled (bench/generate.py).
REBUILD_RESPONSE_RATE = """
    INSERT INTO rollup_response_rate (account_id, survey_id, day, sent, delivered, replied)
    SELECT fr.account_id, fr.survey_id, (fr.sent_at AT TIME ZONE 'UTC')::date, count(*),
           count(*) FILTER (WHERE fr.delivery_failure IS NULL),
           count(*) FILTER (WHERE fr.delivery_failure IS NULL AND EXISTS (
               SELECT 1 FROM feedback_responses r WHERE r.feedback_request_id = fr.id))
    FROM feedback_requests fr
    WHERE fr.state = 'sent' AND fr.sent_at IS NOT NULL
    GROUP BY 1, 2, 3
"""
REBUILD_NPS = """
    INSERT INTO rollup_nps (account_id, question_id, day, promoters, passives, detractors)
    SELECT r.account_id, a.question_id, (r.submitted_at AT TIME ZONE 'UTC')::date,
           count(*) FILTER (WHERE a.rating >= 9),
           count(*) FILTER (WHERE a.rating BETWEEN 7 AND 8),
           count(*) FILTER (WHERE a.rating <= 6)
    FROM answers a
    JOIN feedback_responses r ON r.id = a.feedback_response_id
    JOIN questions q ON q.id = a.question_id
    WHERE q.nps AND a.rating IS NOT NULL
    GROUP BY 1, 2, 3
"""


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "rollup_nps",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("question_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("promoters", sa.Integer(), nullable=False),
        sa.Column("passives", sa.Integer(), nullable=False),
        sa.Column("detractors", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_rollup_nps_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "question_id", "day", name=op.f("pk_rollup_nps")),
    )
    op.create_table(
        "rollup_response_rate",
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("survey_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("replied", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_rollup_response_rate_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "survey_id", "day", name=op.f("pk_rollup_response_rate")
        ),
    )
    with op.batch_alter_table("feedback_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feedback_requests_account_sent_at", ["account_id", "sent_at"], unique=False
        )

    # ### end Alembic commands ###
    if op.get_bind().dialect.name == "postgresql":
        for statement in TRIGGERS:
            op.execute(statement)
        op.execute(REBUILD_RESPONSE_RATE)
        op.execute(REBUILD_NPS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DROP_TRIGGERS:
            op.execute(statement)
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("feedback_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_requests_account_sent_at")

    op.drop_table("rollup_response_rate")
    op.drop_table("rollup_nps")
    # ### end Alembic commands ###
