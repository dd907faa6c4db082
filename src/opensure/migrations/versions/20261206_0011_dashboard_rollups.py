"""per-day counters by staff member, team, site and segment option, for the dashboards

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 05:00:00.000000

The dashboards' breakdowns and 0-10 distribution grouped the rows of the window: at a million
requests and responses, 30 days took 2 to 3 seconds on PostgreSQL. Like the rollups of 0003,
these tables are kept exact by triggers (PostgreSQL only; on SQLite they exist and stay empty)
and read for the whole UTC days of a window, the partial days at its edges counted from rows.
Days are UTC dates of ``feedback_requests.sent_at`` and ``feedback_responses.submitted_at``.
``dim``: "s" staff (key 0: none), "t" team (of the response), "l" site, "o" segment option.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = [
    # ---- one row of each table, added to ----
    """
    CREATE FUNCTION opensure_bump_nps_by(a bigint, d date, dm char, k bigint, q bigint,
                                         rt int, sgn int)
    RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO rollup_nps_by AS r (account_id, day, dim, key, question_id, rating, n)
      VALUES (a, d, dm, k, q, rt, sgn)
      ON CONFLICT (account_id, day, dim, key, question_id, rating)
      DO UPDATE SET n = r.n + EXCLUDED.n;
    END $$
    """,
    """
    CREATE FUNCTION opensure_bump_responses_by(a bigint, d date, dm char, k bigint, s bigint,
                                               sign int)
    RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO rollup_responses_by AS r (account_id, day, dim, key, survey_id, n)
      VALUES (a, d, dm, k, s, sign)
      ON CONFLICT (account_id, day, dim, key, survey_id) DO UPDATE SET n = r.n + EXCLUDED.n;
    END $$
    """,
    """
    CREATE FUNCTION opensure_bump_rate_by(a bigint, d date, dm char, k bigint, s bigint,
                                          ds int, dd int, dr int)
    RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO rollup_response_rate_by AS r
        (account_id, day, dim, key, survey_id, sent, delivered, replied)
      VALUES (a, d, dm, k, s, ds, dd, dr)
      ON CONFLICT (account_id, day, dim, key, survey_id) DO UPDATE
      SET sent = r.sent + EXCLUDED.sent, delivered = r.delivered + EXCLUDED.delivered,
          replied = r.replied + EXCLUDED.replied;
    END $$
    """,
    # ---- one answer, one response, one request: every dimension at once ----
    """
    CREATE FUNCTION opensure_answer_by(a bigint, d date, staff bigint, team bigint, site bigint,
                                       req bigint, q bigint, rt int, sgn int)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
      o bigint;
    BEGIN
      PERFORM opensure_bump_nps_by(a, d, 's', coalesce(staff, 0), q, rt, sgn);
      PERFORM opensure_bump_nps_by(a, d, 't', coalesce(team, 0), q, rt, sgn);
      PERFORM opensure_bump_nps_by(a, d, 'l', coalesce(site, 0), q, rt, sgn);
      FOR o IN SELECT segment_option_id FROM request_segment_options
               WHERE feedback_request_id = req LOOP
        PERFORM opensure_bump_nps_by(a, d, 'o', o, q, rt, sgn);
      END LOOP;
    END $$
    """,
    """
    CREATE FUNCTION opensure_response_by(r feedback_responses, sign int)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
      d date := (r.submitted_at AT TIME ZONE 'UTC')::date;
      o bigint;
      ans record;
    BEGIN
      PERFORM opensure_bump_responses_by(r.account_id, d, 's', coalesce(r.staff_id, 0),
                                         r.survey_id, sign);
      PERFORM opensure_bump_responses_by(r.account_id, d, 't', coalesce(r.team_id, 0),
                                         r.survey_id, sign);
      PERFORM opensure_bump_responses_by(r.account_id, d, 'l', coalesce(r.site_id, 0),
                                         r.survey_id, sign);
      FOR o IN SELECT segment_option_id FROM request_segment_options
               WHERE feedback_request_id = r.feedback_request_id LOOP
        PERFORM opensure_bump_responses_by(r.account_id, d, 'o', o, r.survey_id, sign);
      END LOOP;
      FOR ans IN
        SELECT a.question_id, a.rating FROM answers a JOIN questions q ON q.id = a.question_id
        WHERE a.feedback_response_id = r.id AND q.nps AND a.rating IS NOT NULL
      LOOP
        PERFORM opensure_answer_by(r.account_id, d, r.staff_id, r.team_id, r.site_id,
                                   r.feedback_request_id, ans.question_id, ans.rating, sign);
      END LOOP;
    END $$
    """,
    # A sent request's (sent, delivered, replied) under its staff member, site and options.
    """
    CREATE FUNCTION opensure_request_by(fr feedback_requests, sign int)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
      d date;
      dd int;
      dr int;
      o bigint;
    BEGIN
      IF fr.state <> 'sent' OR fr.sent_at IS NULL THEN
        RETURN;
      END IF;
      d := (fr.sent_at AT TIME ZONE 'UTC')::date;
      dd := sign * (fr.delivery_failure IS NULL)::int;
      dr := sign * (fr.delivery_failure IS NULL AND EXISTS (
        SELECT 1 FROM feedback_responses WHERE feedback_request_id = fr.id))::int;
      PERFORM opensure_bump_rate_by(fr.account_id, d, 's', coalesce(fr.staff_id, 0),
                                    fr.survey_id, sign, dd, dr);
      PERFORM opensure_bump_rate_by(fr.account_id, d, 'l', coalesce(fr.site_id, 0),
                                    fr.survey_id, sign, dd, dr);
      FOR o IN SELECT segment_option_id FROM request_segment_options
               WHERE feedback_request_id = fr.id LOOP
        PERFORM opensure_bump_rate_by(fr.account_id, d, 'o', o, fr.survey_id, sign, dd, dr);
      END LOOP;
    END $$
    """,
    # ---- the triggers: take the old row's counts out, put the new row's in ----
    """
    CREATE FUNCTION opensure_answers_by() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      r record;
    BEGIN
      IF TG_OP <> 'INSERT' AND OLD.rating IS NOT NULL THEN
        SELECT resp.* INTO r FROM feedback_responses resp JOIN questions q ON q.id = OLD.question_id
        WHERE resp.id = OLD.feedback_response_id AND q.nps;
        IF FOUND THEN
          PERFORM opensure_answer_by(r.account_id, (r.submitted_at AT TIME ZONE 'UTC')::date,
                                     r.staff_id, r.team_id, r.site_id, r.feedback_request_id,
                                     OLD.question_id, OLD.rating, -1);
        END IF;
      END IF;
      IF TG_OP <> 'DELETE' AND NEW.rating IS NOT NULL THEN
        SELECT resp.* INTO r FROM feedback_responses resp JOIN questions q ON q.id = NEW.question_id
        WHERE resp.id = NEW.feedback_response_id AND q.nps;
        IF FOUND THEN
          PERFORM opensure_answer_by(r.account_id, (r.submitted_at AT TIME ZONE 'UTC')::date,
                                     r.staff_id, r.team_id, r.site_id, r.feedback_request_id,
                                     NEW.question_id, NEW.rating, 1);
        END IF;
      END IF;
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER answers_by
    AFTER INSERT OR DELETE OR UPDATE OF rating, question_id, feedback_response_id
    ON answers FOR EACH ROW EXECUTE FUNCTION opensure_answers_by()
    """,
    """
    CREATE FUNCTION opensure_responses_by() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      req feedback_requests;
    BEGIN
      IF TG_OP = 'UPDATE'
         AND OLD.account_id = NEW.account_id AND OLD.survey_id = NEW.survey_id
         AND OLD.submitted_at IS NOT DISTINCT FROM NEW.submitted_at
         AND OLD.staff_id IS NOT DISTINCT FROM NEW.staff_id
         AND OLD.team_id IS NOT DISTINCT FROM NEW.team_id
         AND OLD.site_id IS NOT DISTINCT FROM NEW.site_id
         AND OLD.feedback_request_id IS NOT DISTINCT FROM NEW.feedback_request_id THEN
        RETURN NULL;
      END IF;
      IF TG_OP <> 'INSERT' THEN
        PERFORM opensure_response_by(OLD, -1);
        -- The request it answered is no longer replied.
        IF OLD.feedback_request_id IS NOT NULL AND (TG_OP = 'DELETE'
           OR OLD.feedback_request_id IS DISTINCT FROM NEW.feedback_request_id) THEN
          SELECT * INTO req FROM feedback_requests WHERE id = OLD.feedback_request_id;
          IF FOUND AND req.state = 'sent' AND req.sent_at IS NOT NULL
             AND req.delivery_failure IS NULL THEN
            PERFORM opensure_rate_reply(req, -1);
          END IF;
        END IF;
      END IF;
      IF TG_OP = 'DELETE' THEN
        RETURN OLD;
      END IF;
      PERFORM opensure_response_by(NEW, 1);
      IF NEW.feedback_request_id IS NOT NULL AND (TG_OP = 'INSERT'
         OR OLD.feedback_request_id IS DISTINCT FROM NEW.feedback_request_id) THEN
        SELECT * INTO req FROM feedback_requests WHERE id = NEW.feedback_request_id;
        IF FOUND AND req.state = 'sent' AND req.sent_at IS NOT NULL
           AND req.delivery_failure IS NULL THEN
          PERFORM opensure_rate_reply(req, 1);
        END IF;
      END IF;
      RETURN NULL;
    END $$
    """,
    # replied +-1 under the request's staff member, site and options.
    """
    CREATE FUNCTION opensure_rate_reply(fr feedback_requests, sign int)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
      d date := (fr.sent_at AT TIME ZONE 'UTC')::date;
      o bigint;
    BEGIN
      PERFORM opensure_bump_rate_by(fr.account_id, d, 's', coalesce(fr.staff_id, 0),
                                    fr.survey_id, 0, 0, sign);
      PERFORM opensure_bump_rate_by(fr.account_id, d, 'l', coalesce(fr.site_id, 0),
                                    fr.survey_id, 0, 0, sign);
      FOR o IN SELECT segment_option_id FROM request_segment_options
               WHERE feedback_request_id = fr.id LOOP
        PERFORM opensure_bump_rate_by(fr.account_id, d, 'o', o, fr.survey_id, 0, 0, sign);
      END LOOP;
    END $$
    """,
    """
    CREATE TRIGGER feedback_responses_by
    AFTER INSERT OR UPDATE ON feedback_responses
    FOR EACH ROW EXECUTE FUNCTION opensure_responses_by()
    """,
    # BEFORE DELETE, like 0003: the answers are still there (cascades come after).
    """
    CREATE TRIGGER feedback_responses_by_delete
    BEFORE DELETE ON feedback_responses
    FOR EACH ROW EXECUTE FUNCTION opensure_responses_by()
    """,
    """
    CREATE FUNCTION opensure_requests_by() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE'
         AND OLD.account_id = NEW.account_id AND OLD.survey_id = NEW.survey_id
         AND OLD.state = NEW.state AND OLD.sent_at IS NOT DISTINCT FROM NEW.sent_at
         AND (OLD.delivery_failure IS NULL) = (NEW.delivery_failure IS NULL)
         AND OLD.staff_id IS NOT DISTINCT FROM NEW.staff_id
         AND OLD.site_id IS NOT DISTINCT FROM NEW.site_id THEN
        RETURN NULL;
      END IF;
      IF TG_OP = 'DELETE' THEN
        -- Unlink its options first, while its response is still linked to it: their trigger
        -- runs now and takes them out of the request's and the response's counts. (Left to the
        -- cascade, they could be gone before the response's SET NULL is counted.)
        DELETE FROM request_segment_options WHERE feedback_request_id = OLD.id;
        PERFORM opensure_request_by(OLD, -1);
        RETURN OLD;
      END IF;
      IF TG_OP = 'UPDATE' THEN
        PERFORM opensure_request_by(OLD, -1);
      END IF;
      PERFORM opensure_request_by(NEW, 1);
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER feedback_requests_by
    AFTER INSERT OR UPDATE ON feedback_requests
    FOR EACH ROW EXECUTE FUNCTION opensure_requests_by()
    """,
    # BEFORE DELETE: the request's options and reply are still linked.
    """
    CREATE TRIGGER feedback_requests_by_delete
    BEFORE DELETE ON feedback_requests
    FOR EACH ROW EXECUTE FUNCTION opensure_requests_by()
    """,
    # A segment option linked to or unlinked from a request: its request's and its response's
    # counts under that option.
    """
    CREATE FUNCTION opensure_option_link(req_id bigint, o bigint, sign int)
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
      fr feedback_requests;
      r feedback_responses;
      ans record;
      d date;
    BEGIN
      SELECT * INTO fr FROM feedback_requests WHERE id = req_id;
      IF FOUND AND fr.state = 'sent' AND fr.sent_at IS NOT NULL THEN
        PERFORM opensure_bump_rate_by(
          fr.account_id, (fr.sent_at AT TIME ZONE 'UTC')::date, 'o', o, fr.survey_id, sign,
          sign * (fr.delivery_failure IS NULL)::int,
          sign * (fr.delivery_failure IS NULL AND EXISTS (
            SELECT 1 FROM feedback_responses WHERE feedback_request_id = fr.id))::int);
      END IF;
      SELECT * INTO r FROM feedback_responses WHERE feedback_request_id = req_id;
      IF FOUND THEN
        d := (r.submitted_at AT TIME ZONE 'UTC')::date;
        PERFORM opensure_bump_responses_by(r.account_id, d, 'o', o, r.survey_id, sign);
        FOR ans IN
          SELECT a.question_id, a.rating FROM answers a JOIN questions q ON q.id = a.question_id
          WHERE a.feedback_response_id = r.id AND q.nps AND a.rating IS NOT NULL
        LOOP
          PERFORM opensure_bump_nps_by(r.account_id, d, 'o', o, ans.question_id, ans.rating,
                                       sign);
        END LOOP;
      END IF;
    END $$
    """,
    """
    CREATE FUNCTION opensure_request_options_by() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP <> 'INSERT' THEN
        PERFORM opensure_option_link(OLD.feedback_request_id, OLD.segment_option_id, -1);
      END IF;
      IF TG_OP <> 'DELETE' THEN
        PERFORM opensure_option_link(NEW.feedback_request_id, NEW.segment_option_id, 1);
      END IF;
      RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER request_segment_options_by
    AFTER INSERT OR DELETE OR UPDATE ON request_segment_options
    FOR EACH ROW EXECUTE FUNCTION opensure_request_options_by()
    """,
]
DROP_TRIGGERS = [
    "DROP TRIGGER IF EXISTS request_segment_options_by ON request_segment_options",
    "DROP TRIGGER IF EXISTS feedback_requests_by_delete ON feedback_requests",
    "DROP TRIGGER IF EXISTS feedback_requests_by ON feedback_requests",
    "DROP TRIGGER IF EXISTS feedback_responses_by_delete ON feedback_responses",
    "DROP TRIGGER IF EXISTS feedback_responses_by ON feedback_responses",
    "DROP TRIGGER IF EXISTS answers_by ON answers",
    "DROP FUNCTION IF EXISTS opensure_request_options_by()",
    "DROP FUNCTION IF EXISTS opensure_option_link(bigint, bigint, int)",
    "DROP FUNCTION IF EXISTS opensure_requests_by()",
    "DROP FUNCTION IF EXISTS opensure_responses_by()",
    "DROP FUNCTION IF EXISTS opensure_rate_reply(feedback_requests, int)",
    "DROP FUNCTION IF EXISTS opensure_answers_by()",
    "DROP FUNCTION IF EXISTS opensure_request_by(feedback_requests, int)",
    "DROP FUNCTION IF EXISTS opensure_response_by(feedback_responses, int)",
    "DROP FUNCTION IF EXISTS opensure_answer_by(bigint, date, bigint, bigint, bigint, bigint, "
    "bigint, int, int)",
    "DROP FUNCTION IF EXISTS opensure_bump_rate_by(bigint, date, char, bigint, bigint, int, int, "
    "int)",
    "DROP FUNCTION IF EXISTS opensure_bump_responses_by(bigint, date, char, bigint, bigint, int)",
    "DROP FUNCTION IF EXISTS opensure_bump_nps_by(bigint, date, char, bigint, bigint, int, int)",
]

# Also run after bulk loads with triggers disabled (bench/scale.py), like 0003's.
_RESPONSE_DIMS = """
    CROSS JOIN LATERAL (
      VALUES ('s', coalesce(r.staff_id, 0)), ('t', coalesce(r.team_id, 0)),
             ('l', coalesce(r.site_id, 0))
      UNION ALL
      SELECT 'o', o.segment_option_id FROM request_segment_options o
      WHERE o.feedback_request_id = r.feedback_request_id
    ) AS dims(dim, key)
"""
REBUILD_NPS_BY = f"""
    INSERT INTO rollup_nps_by (account_id, day, dim, key, question_id, rating, n)
    SELECT r.account_id, (r.submitted_at AT TIME ZONE 'UTC')::date, dims.dim, dims.key,
           a.question_id, a.rating, count(*)
    FROM answers a
    JOIN feedback_responses r ON r.id = a.feedback_response_id
    JOIN questions q ON q.id = a.question_id
    {_RESPONSE_DIMS}
    WHERE q.nps AND a.rating IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6
"""
REBUILD_RESPONSES_BY = f"""
    INSERT INTO rollup_responses_by (account_id, day, dim, key, survey_id, n)
    SELECT r.account_id, (r.submitted_at AT TIME ZONE 'UTC')::date, dims.dim, dims.key,
           r.survey_id, count(*)
    FROM feedback_responses r
    {_RESPONSE_DIMS}
    GROUP BY 1, 2, 3, 4, 5
"""
REBUILD_RATE_BY = """
    INSERT INTO rollup_response_rate_by
      (account_id, day, dim, key, survey_id, sent, delivered, replied)
    SELECT fr.account_id, (fr.sent_at AT TIME ZONE 'UTC')::date, dims.dim, dims.key,
           fr.survey_id, count(*),
           count(*) FILTER (WHERE fr.delivery_failure IS NULL),
           count(*) FILTER (WHERE fr.delivery_failure IS NULL AND EXISTS (
               SELECT 1 FROM feedback_responses r WHERE r.feedback_request_id = fr.id))
    FROM feedback_requests fr
    CROSS JOIN LATERAL (
      VALUES ('s', coalesce(fr.staff_id, 0)), ('l', coalesce(fr.site_id, 0))
      UNION ALL
      SELECT 'o', o.segment_option_id FROM request_segment_options o
      WHERE o.feedback_request_id = fr.id
    ) AS dims(dim, key)
    WHERE fr.state = 'sent' AND fr.sent_at IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
"""
REBUILD = [REBUILD_NPS_BY, REBUILD_RESPONSES_BY, REBUILD_RATE_BY]


def _account() -> sa.Column[int]:
    return sa.Column(
        "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "rollup_nps_by",
        _account(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("dim", sa.String(length=1), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("question_id", sa.BigInteger(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_rollup_nps_by_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id",
            "day",
            "dim",
            "key",
            "question_id",
            "rating",
            name=op.f("pk_rollup_nps_by"),
        ),
    )
    op.create_table(
        "rollup_responses_by",
        _account(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("dim", sa.String(length=1), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("survey_id", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_rollup_responses_by_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "day", "dim", "key", "survey_id", name=op.f("pk_rollup_responses_by")
        ),
    )
    op.create_table(
        "rollup_response_rate_by",
        _account(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("dim", sa.String(length=1), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("survey_id", sa.BigInteger(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("replied", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_rollup_response_rate_by_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "day", "dim", "key", "survey_id", name=op.f("pk_rollup_response_rate_by")
        ),
    )
    # The answers of a few thousand responses (the partial days at a window's edges) by index
    # only: without it PostgreSQL hashes the whole answers table (200 ms instead of 30).
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_answers_response_question_rating",
            ["feedback_response_id", "question_id", "rating"],
            unique=False,
        )
    if op.get_bind().dialect.name == "postgresql":
        for statement in TRIGGERS:
            op.execute(statement)
        for statement in REBUILD:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DROP_TRIGGERS:
            op.execute(statement)
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_index("ix_answers_response_question_rating")
    op.drop_table("rollup_response_rate_by")
    op.drop_table("rollup_responses_by")
    op.drop_table("rollup_nps_by")
