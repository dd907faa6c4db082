"""Webhooks (SPEC §9): an account's endpoints, the outbox of events for them, and the log of
delivery attempts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opensure.core.clock import utcnow
from opensure.db import Base, BigId, UTCDateTime

URL_MAX = 2000


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    # Every event looks up its account's endpoints (removed ones are kept for their log).
    __table_args__ = (Index("ix_webhook_endpoints_account_id", "account_id", "removed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(URL_MAX))
    # "all", or the event types it wants, comma-separated.
    events: Mapped[str] = mapped_column(String(500))
    # ``whsec_`` + base64 of the key: kept (not hashed) because every delivery is signed with it.
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation the old secret signs too, until it expires (24 hours).
    previous_secret: Mapped[str | None] = mapped_column(String(100), nullable=True)
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, nullable=True
    )
    # Created with --allow-private-network: the address check is skipped.
    allow_private_network: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when an event was given up (after 3 days of retries); cleared by the next 2xx.
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookEvent(Base):
    """The outbox: one row per (event, endpoint), written in the transaction of the change."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        # Due events: next_attempt_at is null once delivered or given up.
        Index("ix_webhook_events_next_attempt_at", "next_attempt_at"),
        Index("ix_webhook_events_endpoint_id", "endpoint_id", "created_at"),
    )

    # The ``webhook-id`` header: the same on every attempt.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(60))
    # The JSON body exactly as it is sent (and signed).
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    given_up_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookDelivery(Base):
    """One attempt to deliver an event: what the endpoint answered, and how fast."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_event_id", "event_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    attempted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    latency_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    # The first bytes of the answer (at most 500), decoded leniently.
    response_excerpt: Mapped[str | None] = mapped_column(Text, nullable=True)
