"""the dashboards' counter triggers fire only on updates of the columns they count

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 16:30:00.000000

``feedback_requests_by`` and ``feedback_responses_by`` (0011) fired on every UPDATE of their
table and returned at once when no counted column had changed. A dispatcher's claim (a lease on
500 requests) and the release of a lease are such updates: every row queued an AFTER trigger
event and ran a PL/pgSQL call that did nothing. With the columns listed, like the triggers of
0003 and 0005, PostgreSQL does not fire them for those statements at all. The functions are
unchanged (they still compare the old and new values: a listed column set to the same value
counts nothing). PostgreSQL only: on SQLite the counters are not kept by triggers.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns each function compares before counting (0011's opensure_requests_by and
# opensure_responses_by): an update that sets none of them counts nothing.
REQUEST_COLUMNS = "account_id, survey_id, state, sent_at, delivery_failure, staff_id, site_id"
RESPONSE_COLUMNS = (
    "account_id, survey_id, submitted_at, staff_id, team_id, site_id, feedback_request_id"
)


def _triggers(request_update: str, response_update: str) -> list[str]:
    return [
        "DROP TRIGGER feedback_requests_by ON feedback_requests",
        f"""
        CREATE TRIGGER feedback_requests_by
        AFTER INSERT OR {request_update} ON feedback_requests
        FOR EACH ROW EXECUTE FUNCTION opensure_requests_by()
        """,
        "DROP TRIGGER feedback_responses_by ON feedback_responses",
        f"""
        CREATE TRIGGER feedback_responses_by
        AFTER INSERT OR {response_update} ON feedback_responses
        FOR EACH ROW EXECUTE FUNCTION opensure_responses_by()
        """,
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _triggers(f"UPDATE OF {REQUEST_COLUMNS}", f"UPDATE OF {RESPONSE_COLUMNS}"):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _triggers("UPDATE", "UPDATE"):
            op.execute(statement)
