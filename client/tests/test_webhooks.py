"""``opensure_client.webhooks.verify`` against the Standard Webhooks reference implementation:
what it signs verifies here, and anything altered does not."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets

import pytest
from standardwebhooks import Webhook
from standardwebhooks import WebhookVerificationError as ReferenceRefusal

import opensure_client
from opensure_client.webhooks import WebhookVerificationError, verify

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
BODY = json.dumps(
    {
        "type": "feedback_response.created",
        "timestamp": "2026-12-06T12:00:00Z",
        "data": {"id": 7, "answers": [{"answer": "Très bien"}]},
    },
    ensure_ascii=False,
)


def signed(body: str = BODY, secret: str = SECRET, at: dt.datetime | None = None) -> dict[str, str]:
    at = at or dt.datetime.now(dt.UTC)
    return {
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": str(int(at.timestamp())),
        "Webhook-Signature": Webhook(secret).sign("msg_1", at, body),
    }


def test_a_reference_signature_verifies() -> None:
    event = opensure_client.webhooks.verify(BODY.encode(), signed(), SECRET)
    assert event["data"]["id"] == 7
    assert verify(BODY, signed(), SECRET)["type"] == "feedback_response.created"


def test_either_of_two_signatures_verifies_during_a_rotation() -> None:
    old = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    headers = signed()
    headers["Webhook-Signature"] += " " + signed(secret=old)["Webhook-Signature"]
    assert verify(BODY.encode(), headers, SECRET)["data"]["id"] == 7
    assert verify(BODY.encode(), headers, old)["data"]["id"] == 7


@pytest.mark.parametrize(
    "change",
    ["body", "id", "secret", "old", "missing", "future"],
)
def test_anything_altered_is_refused(change: str) -> None:
    headers, body, secret = signed(), BODY.encode(), SECRET
    if change == "body":
        body = body.replace(b"7", b"8")
    elif change == "id":
        headers["Webhook-Id"] = "msg_2"
    elif change == "secret":
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    elif change == "old":
        headers = signed(at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
    elif change == "future":
        headers = signed(at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
    else:
        del headers["Webhook-Signature"]
    with pytest.raises(WebhookVerificationError):
        verify(body, headers, secret)
    # The reference implementation agrees.
    with pytest.raises(ReferenceRefusal):
        Webhook(secret).verify(body, headers)


def test_a_malformed_secret_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a webhook secret"):
        verify(BODY, signed(), "whsec_***")
