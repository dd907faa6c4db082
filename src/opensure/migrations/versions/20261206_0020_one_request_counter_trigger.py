"""one trigger keeps a request's counters on INSERT and UPDATE, its statements written inline

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 21:00:00.000000

Recording an e-mail as sent (``pending`` → ``sent``) fired three row triggers, one per family of
counters: ``feedback_requests_rollup`` (the response rate, 0003), ``feedback_requests_counts``
(the lists' totals, 0005) and ``feedback_requests_by`` (the dashboards' breakdowns, 0011). Each
ran its own PL/pgSQL call, probed for a reply on its own, and reached each upsert through a
further PL/pgSQL function (``PERFORM opensure_bump_…``): per sent request three trigger calls
and fourteen statements, five of them upserts. One function now does the same for INSERT and
UPDATE: one call and four statements (one probe for a reply; the breakdowns of a request's
staff, site and segment options in one upsert; the lists' two states in one; the response
rate). It counts exactly what the three did (the old row's contribution
taken away, the new row's added, nothing when no counted value changed), and takes the
counters' row locks in the order they did: the breakdowns, the totals, the response rate.
DELETE keeps its triggers (BEFORE DELETE ``…_rollup_delete`` and ``…_by_delete``, and
``feedback_requests_counts``, now AFTER DELETE only). PostgreSQL only: on SQLite the counters
are not kept by triggers.

The metric definitions (``opensure.metrics.definitions``) are spelled as in 0003 and checked
against it by ``tests/metrics/test_definitions.py``.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A request's contribution: ``r`` is OLD (taken away, sign -1) or NEW (added, sign 1).
def _breakdowns(r: str, sign: str) -> str:
    return f"""
    INSERT INTO rollup_response_rate_by AS r
      (account_id, day, dim, key, survey_id, sent, delivered, replied)
    SELECT {r}.account_id, ({r}.sent_at AT TIME ZONE 'UTC')::date, k.dim, k.key, {r}.survey_id,
           {sign}, {sign} * ({r}.delivery_failure IS NULL)::int,
           {sign} * ({r}.delivery_failure IS NULL AND has_reply)::int
    FROM (VALUES ('s', coalesce({r}.staff_id, 0)), ('l', coalesce({r}.site_id, 0))
          UNION ALL
          SELECT 'o', segment_option_id FROM request_segment_options
          WHERE feedback_request_id = {r}.id) AS k (dim, key)
    ON CONFLICT (account_id, day, dim, key, survey_id) DO UPDATE
    SET sent = r.sent + EXCLUDED.sent, delivered = r.delivered + EXCLUDED.delivered,
        replied = r.replied + EXCLUDED.replied;"""


def _rate(r: str, sign: str) -> str:
    return f"""
    INSERT INTO rollup_response_rate AS r (account_id, survey_id, day, sent, delivered, replied)
    VALUES ({r}.account_id, {r}.survey_id, ({r}.sent_at AT TIME ZONE 'UTC')::date, {sign},
            {sign} * ({r}.delivery_failure IS NULL)::int,
            {sign} * ({r}.delivery_failure IS NULL AND has_reply)::int)
    ON CONFLICT (account_id, survey_id, day) DO UPDATE
    SET sent = r.sent + EXCLUDED.sent, delivered = r.delivered + EXCLUDED.delivered,
        replied = r.replied + EXCLUDED.replied;"""


def _totals(*moves: tuple[str, str]) -> str:
    # The lists' totals (requests by account, survey and state): one statement for both rows.
    values = ", ".join(f"({r}.account_id, {r}.survey_id, {r}.state, {sign})" for r, sign in moves)
    return f"""
    INSERT INTO rollup_request_counts AS c (account_id, survey_id, state, n) VALUES {values}
    ON CONFLICT (account_id, survey_id, state) DO UPDATE SET n = c.n + EXCLUDED.n;"""


FUNCTION = f"""
CREATE FUNCTION opensure_request_counted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  -- what each row counts in the response rate and the breakdowns: a sent request
  was_sent boolean := TG_OP = 'UPDATE' AND OLD.state = 'sent' AND OLD.sent_at IS NOT NULL;
  is_sent boolean := NEW.state = 'sent' AND NEW.sent_at IS NOT NULL;
  -- the response rate and the breakdowns change unless nothing they read did
  rate boolean := (was_sent OR is_sent) AND NOT (was_sent AND is_sent
    AND OLD.account_id = NEW.account_id AND OLD.survey_id = NEW.survey_id
    AND OLD.sent_at = NEW.sent_at
    AND (OLD.delivery_failure IS NULL) = (NEW.delivery_failure IS NULL)
    AND OLD.staff_id IS NOT DISTINCT FROM NEW.staff_id
    AND OLD.site_id IS NOT DISTINCT FROM NEW.site_id);
  has_reply boolean;
BEGIN
  IF rate THEN
    has_reply := EXISTS (SELECT 1 FROM feedback_responses WHERE feedback_request_id = NEW.id);
    IF was_sent THEN {_breakdowns("OLD", "-1")}
    END IF;
    IF is_sent THEN {_breakdowns("NEW", "1")}
    END IF;
  END IF;
  IF TG_OP = 'INSERT' THEN {_totals(("NEW", "1"))}
  ELSIF OLD.account_id <> NEW.account_id OR OLD.survey_id <> NEW.survey_id
        OR OLD.state <> NEW.state THEN {_totals(("OLD", "-1"), ("NEW", "1"))}
  END IF;
  IF rate THEN
    IF was_sent THEN {_rate("OLD", "-1")}
    END IF;
    IF is_sent THEN {_rate("NEW", "1")}
    END IF;
  END IF;
  RETURN NULL;
END $$
"""

# Every column one of the three triggers was fired by (0003, 0005, 0019).
COLUMNS = "account_id, survey_id, state, sent_at, delivery_failure, staff_id, site_id"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    for statement in (
        "DROP TRIGGER feedback_requests_rollup ON feedback_requests",
        "DROP TRIGGER feedback_requests_by ON feedback_requests",
        "DROP TRIGGER feedback_requests_counts ON feedback_requests",
        """
        CREATE TRIGGER feedback_requests_counts AFTER DELETE ON feedback_requests
        FOR EACH ROW EXECUTE FUNCTION opensure_request_counts()
        """,
        f"""
        CREATE TRIGGER feedback_requests_counted
        AFTER INSERT OR UPDATE OF {COLUMNS} ON feedback_requests
        FOR EACH ROW EXECUTE FUNCTION opensure_request_counted()
        """,
    ):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in (
        "DROP TRIGGER feedback_requests_counted ON feedback_requests",
        "DROP TRIGGER feedback_requests_counts ON feedback_requests",
        """
        CREATE TRIGGER feedback_requests_rollup
        AFTER INSERT OR UPDATE OF state, sent_at, delivery_failure, survey_id, account_id
        ON feedback_requests FOR EACH ROW EXECUTE FUNCTION opensure_feedback_requests_rollup()
        """,
        """
        CREATE TRIGGER feedback_requests_counts
        AFTER INSERT OR DELETE OR UPDATE OF state, survey_id, account_id ON feedback_requests
        FOR EACH ROW EXECUTE FUNCTION opensure_request_counts()
        """,
        f"""
        CREATE TRIGGER feedback_requests_by AFTER INSERT OR UPDATE OF {COLUMNS}
        ON feedback_requests FOR EACH ROW EXECUTE FUNCTION opensure_requests_by()
        """,
        "DROP FUNCTION opensure_request_counted()",
    ):
        op.execute(statement)
