"""webhooks: endpoints, the outbox of events and the delivery log

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 08:30:00.000000

An account's webhook endpoints (SPEC §9), one outbox row per (event, endpoint) written in the
transaction of the change it reports, and one log row per delivery attempt.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from opensure.db import BigId, UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "account_id",
            BigId,
            sa.ForeignKey(
                "accounts.id", ondelete="CASCADE", name="fk_webhook_endpoints_account_id_accounts"
            ),
            nullable=False,
        ),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("events", sa.String(500), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100), nullable=True),
        sa.Column("previous_secret_expires_at", UTCDateTime, nullable=True),
        sa.Column("allow_private_network", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("failing_since", UTCDateTime, nullable=True),
        sa.Column("failure_reason", sa.String(500), nullable=True),
        sa.Column("disabled_at", UTCDateTime, nullable=True),
        sa.Column("removed_at", UTCDateTime, nullable=True),
    )
    op.create_index(
        "ix_webhook_endpoints_account_id", "webhook_endpoints", ["account_id", "removed_at"]
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "endpoint_id",
            BigId,
            sa.ForeignKey(
                "webhook_endpoints.id",
                ondelete="CASCADE",
                name="fk_webhook_events_endpoint_id_webhook_endpoints",
            ),
            nullable=False,
        ),
        sa.Column("type", sa.String(60), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("delivered_at", UTCDateTime, nullable=True),
        sa.Column("given_up_at", UTCDateTime, nullable=True),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("claimed_until", UTCDateTime, nullable=True),
    )
    op.create_index("ix_webhook_events_next_attempt_at", "webhook_events", ["next_attempt_at"])
    op.create_index(
        "ix_webhook_events_endpoint_id", "webhook_events", ["endpoint_id", "created_at"]
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "event_id",
            sa.String(40),
            sa.ForeignKey(
                "webhook_events.id",
                ondelete="CASCADE",
                name="fk_webhook_deliveries_event_id_webhook_events",
            ),
            nullable=False,
        ),
        sa.Column("attempted_at", UTCDateTime, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("latency_ms", sa.BigInteger, nullable=False),
        sa.Column("response_excerpt", sa.Text, nullable=True),
    )
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_event_id", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhook_events_endpoint_id", table_name="webhook_events")
    op.drop_index("ix_webhook_events_next_attempt_at", table_name="webhook_events")
    op.drop_table("webhook_events")
    op.drop_index("ix_webhook_endpoints_account_id", table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
