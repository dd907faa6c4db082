"""Webhook rules with no database: event types, secrets, the body, signatures (Standard
Webhooks, through its reference implementation ``standardwebhooks``) and the retry schedule."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from standardwebhooks import Webhook

EVENT_TYPES = (
    "feedback_response.created",
    "feedback_response.updated",
    "feedback_request.sent",
    "feedback_request.not_sent",
    "feedback_request.delivery_failed",
)
ALL = "all"
SECRET_PREFIX = "whsec_"
KEY_BYTES = 32
# After a rotation the old secret keeps signing (beside the new one) for this long.
PREVIOUS_SECRET_VALID = dt.timedelta(hours=24)
TIMEOUT_SECONDS = 15.0
EXCERPT_BYTES = 500
# Delays before the 1st, 2nd, … retry; then every 3 hours until the event is 3 days old.
RETRY_DELAYS = (10, 30, 120, 600, 1800, 3600)
RETRY_EVERY = 3 * 3600
RETRY_FOR = dt.timedelta(days=3)


def new_secret() -> str:
    """A new signing secret in the form shown to the user: ``whsec_`` + base64 of 32 bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def new_event_id() -> str:
    """A ``webhook-id``: unique, the same on every attempt of one event to one endpoint."""
    return "msg_" + secrets.token_hex(12)


def parse_events(raw: str | Iterable[str] | None) -> str:
    """The stored form of an event list ("all" or comma-separated types); ValueError naming
    an unknown type."""
    items = raw.split(",") if isinstance(raw, str) else list(raw or [])
    wanted = [i.strip() for i in items if i.strip()]
    if not wanted or ALL in wanted:
        return ALL
    unknown = [w for w in wanted if w not in EVENT_TYPES]
    if unknown:
        raise ValueError(
            f"Unknown event type {unknown[0]!r}: the types are {', '.join(EVENT_TYPES)}."
        )
    return ",".join(t for t in EVENT_TYPES if t in wanted)


def wants(events: str, event_type: str) -> bool:
    """Whether an endpoint with the stored ``events`` receives ``event_type``."""
    return events == ALL or event_type in events.split(",")


def timestamp(at: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC, as the API writes timestamps."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def body(event_type: str, at: dt.datetime, data: dict[str, Any]) -> str:
    """The JSON body of an event, exactly as it is stored, signed and sent."""
    return orjson.dumps({"type": event_type, "timestamp": timestamp(at), "data": data}).decode()


def signature(secrets_: Sequence[str], event_id: str, at: dt.datetime, payload: str) -> str:
    """The ``webhook-signature`` header: ``v1,…`` for each secret, space-separated (two during
    a rotation)."""
    return " ".join(Webhook(s).sign(event_id, at, payload) for s in secrets_)


def headers(
    secrets_: Sequence[str], event_id: str, at: dt.datetime, payload: str
) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {
        "content-type": "application/json",
        "user-agent": "OpenSure-Webhooks/1",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature(secrets_, event_id, at, payload),
    }


def next_attempt(attempts: int, created_at: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """When to try again after ``attempts`` failed attempts, or None to give up (the event is
    3 days old)."""
    if now - created_at >= RETRY_FOR:
        return None
    delay = RETRY_DELAYS[attempts - 1] if 0 < attempts <= len(RETRY_DELAYS) else RETRY_EVERY
    return now + dt.timedelta(seconds=delay)
