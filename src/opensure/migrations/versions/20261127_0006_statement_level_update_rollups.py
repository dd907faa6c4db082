"""statement-level rollups for updates of feedback requests

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 09:25:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL only. The dispatcher records its outcomes a hundred rows per UPDATE; the row-level
# triggers of 0003 and 0005 ran three upserts (and a lookup) for every row, mostly into the same
# few rollup rows. One statement-level trigger with transition tables now applies an UPDATE's
# net change, grouped, once. Inserts and deletes keep their row-level triggers. The net change
# is the same as the row triggers' sum: a row whose counted columns did not change adds -1 and +1
# to the same key, and groups that net to zero are not written.
UPDATE_FUNCTION = """
CREATE FUNCTION opensure_feedback_requests_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO rollup_request_counts AS c (account_id, survey_id, state, n)
  SELECT account_id, survey_id, state, sum(d) FROM (
    SELECT account_id, survey_id, state, -1 AS d FROM old_rows
    UNION ALL
    SELECT account_id, survey_id, state, 1 AS d FROM new_rows
  ) AS x
  GROUP BY account_id, survey_id, state
  HAVING sum(d) <> 0
  ON CONFLICT (account_id, survey_id, state) DO UPDATE SET n = c.n + EXCLUDED.n;

  INSERT INTO rollup_response_rate AS r (account_id, survey_id, day, sent, delivered, replied)
  SELECT account_id, survey_id, day, sum(ds), sum(dd), sum(dr) FROM (
    SELECT o.account_id, o.survey_id, (o.sent_at AT TIME ZONE 'UTC')::date AS day,
           -1 AS ds, -(o.delivery_failure IS NULL)::int AS dd,
           -(o.delivery_failure IS NULL AND EXISTS (
               SELECT 1 FROM feedback_responses f WHERE f.feedback_request_id = o.id))::int AS dr
    FROM old_rows AS o WHERE o.state = 'sent' AND o.sent_at IS NOT NULL
    UNION ALL
    SELECT n.account_id, n.survey_id, (n.sent_at AT TIME ZONE 'UTC')::date AS day,
           1 AS ds, (n.delivery_failure IS NULL)::int AS dd,
           (n.delivery_failure IS NULL AND EXISTS (
               SELECT 1 FROM feedback_responses f WHERE f.feedback_request_id = n.id))::int AS dr
    FROM new_rows AS n WHERE n.state = 'sent' AND n.sent_at IS NOT NULL
  ) AS x
  GROUP BY account_id, survey_id, day
  HAVING sum(ds) <> 0 OR sum(dd) <> 0 OR sum(dr) <> 0
  ON CONFLICT (account_id, survey_id, day) DO UPDATE
  SET sent = r.sent + EXCLUDED.sent,
      delivered = r.delivered + EXCLUDED.delivered,
      replied = r.replied + EXCLUDED.replied;
  RETURN NULL;
END $$
"""

UPGRADE = [
    "DROP TRIGGER feedback_requests_rollup ON feedback_requests",
    """
    CREATE TRIGGER feedback_requests_rollup
    AFTER INSERT ON feedback_requests
    FOR EACH ROW EXECUTE FUNCTION opensure_feedback_requests_rollup()
    """,
    "DROP TRIGGER feedback_requests_counts ON feedback_requests",
    """
    CREATE TRIGGER feedback_requests_counts
    AFTER INSERT OR DELETE ON feedback_requests
    FOR EACH ROW EXECUTE FUNCTION opensure_request_counts()
    """,
    UPDATE_FUNCTION,
    """
    CREATE TRIGGER feedback_requests_update_rollups
    AFTER UPDATE ON feedback_requests
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION opensure_feedback_requests_update()
    """,
]

# Back to the row-level triggers exactly as 0003 and 0005 made them.
DOWNGRADE = [
    "DROP TRIGGER IF EXISTS feedback_requests_update_rollups ON feedback_requests",
    "DROP FUNCTION IF EXISTS opensure_feedback_requests_update()",
    "DROP TRIGGER feedback_requests_rollup ON feedback_requests",
    """
    CREATE TRIGGER feedback_requests_rollup
    AFTER INSERT OR UPDATE OF state, sent_at, delivery_failure, survey_id, account_id
    ON feedback_requests FOR EACH ROW EXECUTE FUNCTION opensure_feedback_requests_rollup()
    """,
    "DROP TRIGGER feedback_requests_counts ON feedback_requests",
    """
    CREATE TRIGGER feedback_requests_counts
    AFTER INSERT OR DELETE OR UPDATE OF state, survey_id, account_id
    ON feedback_requests FOR EACH ROW EXECUTE FUNCTION opensure_request_counts()
    """,
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWNGRADE:
            op.execute(statement)
