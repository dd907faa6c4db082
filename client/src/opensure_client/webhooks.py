"""Verifying the webhooks OpenSure sends (Standard Webhooks, https://www.standardwebhooks.com).

::

    from opensure_client import webhooks

    event = webhooks.verify(request.body, request.headers, "whsec_…")
    if event["type"] == "feedback_response.created":
        ...

Pass the body exactly as received (bytes): the signature covers those bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from opensure_client._errors import OpenSureError

__all__ = ["TOLERANCE_SECONDS", "WebhookVerificationError", "verify"]

# A message whose timestamp is further than this from now is refused (replayed or forged).
TOLERANCE_SECONDS = 5 * 60
_PREFIX = "whsec_"


class WebhookVerificationError(OpenSureError):
    """The webhook's headers are missing, its timestamp is too old or too new, or no signature
    matches the secret: do not trust it."""


def _key(secret: str) -> bytes:
    raw = secret[len(_PREFIX) :] if secret.startswith(_PREFIX) else secret
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("The secret is not a webhook secret (whsec_ and base64).") from None
    if not key:
        raise ValueError("The secret is empty.")
    return key


def verify(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """The event (``{"type", "timestamp", "data"}``) if ``body`` and ``headers`` are signed by
    ``secret`` (the endpoint's ``whsec_…`` secret; during a rotation either secret verifies);
    :class:`WebhookVerificationError` otherwise."""
    payload = body.encode() if isinstance(body, str) else bytes(body)
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError(
            "Missing webhook-id, webhook-timestamp or webhook-signature."
        )
    try:
        sent = int(stamp)
    except ValueError:
        raise WebhookVerificationError("The webhook-timestamp is not a number.") from None
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        raise WebhookVerificationError("The webhook-timestamp is too far from the current time.")
    signed = f"{msg_id}.{sent}.".encode() + payload
    expected = base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest())
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            event: dict[str, Any] = json.loads(payload)
            return event
    raise WebhookVerificationError("No signature matches the secret.")
