"""Each provider's notifications: how they are authenticated and what they report.

No web framework here: functions over the body's bytes and headers, raising ``Refused`` when a
notification does not prove where it came from.

- Amazon SES through SNS: the SNS signature (RSA over the canonical string SNS specifies, with
  the certificate at ``SigningCertURL``, which must be https on an ``sns.*.amazonaws.com``
  host), and the topic among OPENSURE_BOUNCE_SNS_TOPIC_ARNS (anybody can sign with SNS from a
  topic of their own).
- Postmark does not sign: HTTP basic auth with OPENSURE_BOUNCE_WEBHOOK_SECRET as the password
  (or ``?token=`` with it).
- Mailgun: HMAC-SHA256 of ``timestamp + token`` under the webhook signing key.
- SendGrid: the signed event webhook, ECDSA (P-256, SHA-256) over ``timestamp + body`` with
  the verification key.

Each report names its request by whatever of the original e-mail the provider passes back
(``verp.refs_in`` over the event: the Message-ID, the return path).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from opensure.config import Settings
from opensure.dispatch import verp
from opensure.dispatch.bounces import Kind, Report, failure_text

PROVIDERS = ("ses", "postmark", "mailgun", "sendgrid")


class Refused(Exception):
    """The notification does not prove it comes from the provider (answered 403)."""


class NotConfigured(Exception):
    """This installation has not set this provider up (answered 404)."""


class Malformed(Exception):
    """Not a notification this provider sends (answered 400)."""


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise Malformed("the body is not JSON") from exc


def _refs(event: Any) -> tuple[verp.Ref, ...]:
    return tuple(verp.refs_in([json.dumps(event)]))


def _report(kind: Kind, recipient: Any, status: Any, detail: Any, event: Any) -> Report:
    recipient = str(recipient) if recipient else None
    text = failure_text(str(status) if status else None, str(detail) if detail else None)
    return Report(kind, recipient, text, _refs(event))


# ---- Amazon SES through SNS ----

Fetch = Callable[[str], Awaitable[bytes]]
_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_SNS_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SNS_FIELDS["UnsubscribeConfirmation"] = _SNS_FIELDS["SubscriptionConfirmation"]


def sns_url_allowed(url: str) -> bool:
    """An SNS certificate or subscription URL: https on an ``sns.<region>.amazonaws.com`` host."""
    parts = urlsplit(url)
    return (
        parts.scheme == "https"
        and parts.port in (None, 443)
        and bool(_SNS_HOST.match((parts.hostname or "").lower()))
    )


def sns_string_to_sign(message: Mapping[str, Any]) -> bytes:
    kind = message.get("Type")
    if kind not in _SNS_FIELDS:
        raise Malformed(f"not an SNS message type: {kind!r}")
    lines = []
    for name in _SNS_FIELDS[kind]:
        if name in message and message[name] is not None:
            lines += [name, str(message[name])]
    return ("\n".join(lines) + "\n").encode()


@dataclass
class SnsVerifier:
    """Checks SNS signatures; certificates are fetched once per URL (``fetch``: replaceable,
    tests never use the network)."""

    fetch: Fetch
    _certs: dict[str, Any] = field(default_factory=dict)

    async def verify(self, message: Mapping[str, Any]) -> None:
        url = str(message.get("SigningCertURL") or message.get("SigningCertUrl") or "")
        if not sns_url_allowed(url):
            raise Refused("the signing certificate is not on an SNS host over https")
        version = str(message.get("SignatureVersion", ""))
        algorithm: hashes.HashAlgorithm
        if version == "1":
            algorithm = hashes.SHA1()
        elif version == "2":
            algorithm = hashes.SHA256()
        else:
            raise Refused(f"unknown SNS signature version {version!r}")
        try:
            signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Refused("the signature is not base64") from exc
        key = await self._key(url)
        try:
            key.verify(signature, sns_string_to_sign(message), padding.PKCS1v15(), algorithm)
        except InvalidSignature as exc:
            raise Refused("the SNS signature does not verify") from exc

    async def _key(self, url: str) -> rsa.RSAPublicKey:
        if url not in self._certs:
            try:
                cert = x509.load_pem_x509_certificate(await self.fetch(url))
            except ValueError as exc:
                raise Refused("the signing certificate cannot be read") from exc
            key = cert.public_key()
            if not isinstance(key, rsa.RSAPublicKey):
                raise Refused("the signing certificate has no RSA key")
            self._certs[url] = key
        key = self._certs[url]
        assert isinstance(key, rsa.RSAPublicKey)
        return key


def sns_topics(settings: Settings) -> frozenset[str]:
    raw = settings.bounce_sns_topic_arns or ""
    return frozenset(t.strip() for t in raw.split(",") if t.strip())


def ses_reports(notification: Mapping[str, Any]) -> list[Report]:
    """An SES notification (the SNS message's ``Message``): bounces and complaints."""
    kind = notification.get("notificationType") or notification.get("eventType")
    mail = notification.get("mail") or {}
    out: list[Report] = []
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        permanent = bounce.get("bounceType") == "Permanent"
        for r in bounce.get("bouncedRecipients") or []:
            out.append(
                _report(
                    "permanent" if permanent else "temporary",
                    r.get("emailAddress"),
                    r.get("status"),
                    r.get("diagnosticCode") or bounce.get("bounceSubType"),
                    mail,
                )
            )
    elif kind == "Complaint":
        complaint = notification.get("complaint") or {}
        for r in complaint.get("complainedRecipients") or []:
            detail = complaint.get("complaintFeedbackType") or "complaint"
            out.append(_report("complaint", r.get("emailAddress"), None, detail, mail))
    return out


# ---- Postmark ----


def check_postmark(settings: Settings, authorization: str | None, token: str | None) -> None:
    secret = settings.bounce_webhook_secret
    if not secret:
        raise NotConfigured("postmark")
    offered = token or ""
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, ValueError) as exc:
            raise Refused("malformed basic credentials") from exc
        offered = decoded.partition(":")[2]
    if not hmac.compare_digest(offered.encode(), secret.encode()):
        raise Refused("wrong or missing webhook credentials")


_POSTMARK_PERMANENT = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "DMARCPolicy"}


def postmark_reports(payload: Any) -> list[Report]:
    if not isinstance(payload, dict):
        raise Malformed("a Postmark notification is one JSON object")
    record = payload.get("RecordType")
    kind_name = payload.get("Type")
    email = payload.get("Email")
    if record == "SpamComplaint" or kind_name == "SpamComplaint":
        return [_report("complaint", email, None, "spam complaint", payload)]
    if record != "Bounce":
        return []
    permanent = kind_name in _POSTMARK_PERMANENT or payload.get("Inactive") is True
    detail = payload.get("Details") or payload.get("Description") or kind_name
    return [_report("permanent" if permanent else "temporary", email, kind_name, detail, payload)]


# ---- Mailgun ----


def check_mailgun(settings: Settings, payload: Any) -> None:
    key = settings.bounce_mailgun_signing_key
    if not key:
        raise NotConfigured("mailgun")
    signature = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(signature, dict):
        raise Refused("no signature")
    timestamp, token = str(signature.get("timestamp", "")), str(signature.get("token", ""))
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), str(signature.get("signature", "")).encode()):
        raise Refused("the Mailgun signature does not verify")


def mailgun_reports(payload: Mapping[str, Any]) -> list[Report]:
    event = payload.get("event-data") or {}
    name = event.get("event")
    status = event.get("delivery-status") or {}
    detail = status.get("description") or status.get("message") or event.get("reason")
    if name == "failed":
        kind: Kind = "permanent" if event.get("severity") == "permanent" else "temporary"
        code = status.get("enhanced-code") or status.get("code")
        return [_report(kind, event.get("recipient"), code, detail, event)]
    if name == "complained":
        return [_report("complaint", event.get("recipient"), None, "spam complaint", event)]
    return []


# ---- SendGrid ----

SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


def sendgrid_key(text: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER) or as PEM."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text))
    except (ValueError, binascii.Error) as exc:
        raise ValueError("OPENSURE_BOUNCE_SENDGRID_PUBLIC_KEY is not a public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("OPENSURE_BOUNCE_SENDGRID_PUBLIC_KEY is not an ECDSA key")
    return key


def check_sendgrid(
    settings: Settings, body: bytes, signature: str | None, timestamp: str | None
) -> None:
    if not settings.bounce_sendgrid_public_key:
        raise NotConfigured("sendgrid")
    key = sendgrid_key(settings.bounce_sendgrid_public_key)
    if not signature or not timestamp:
        raise Refused("no signature")
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise Refused("the SendGrid signature does not verify") from exc


def sendgrid_reports(payload: Any) -> list[Report]:
    if not isinstance(payload, list):
        raise Malformed("a SendGrid notification is a JSON array of events")
    out: list[Report] = []
    for event in payload:
        if not isinstance(event, dict):
            continue
        name, email = event.get("event"), event.get("email")
        if name == "bounce":
            kind: Kind = "temporary" if event.get("type") == "blocked" else "permanent"
            out.append(_report(kind, email, event.get("status"), event.get("reason"), event))
        elif name == "dropped":
            out.append(_report("permanent", email, None, event.get("reason"), event))
        elif name == "deferred":
            out.append(_report("temporary", email, None, event.get("response"), event))
        elif name == "spamreport":
            out.append(_report("complaint", email, None, "spam complaint", event))
    return out
