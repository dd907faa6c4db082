"""Provider notifications at POST /hooks/bounces/{provider}: each authenticated as the provider
does it (good and bad signatures), mapped to the request by its Message-ID or return path; a
bounce sets delivery_failure, a complaint unsubscribes the address. No network: the SNS
certificate comes from an injected fetcher, signed here with a self-signed certificate."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from opensure.hooks import providers
from opensure.hooks.service import Clients
from tests.bounces import payloads
from tests.bounces.samples import sent_to
from tests.conftest import Account
from tests.dispatch.support import address, create_request, dispatch, fetch_request, parse

BOUNCES = "bounces@bounce.opensure.test"
SECRET = "pm-secret-0123456789"
MAILGUN_KEY = "key-mailgun-signing-0123456789"


def _rsa_cert() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


SNS_KEY, SNS_CERT = _rsa_cert()
OTHER_KEY, _ = _rsa_cert()
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(
    SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


def sns_sign(message: dict[str, Any], key: rsa.RSAPrivateKey = SNS_KEY) -> dict[str, Any]:
    algorithm = hashes.SHA1() if message["SignatureVersion"] == "1" else hashes.SHA256()
    signature = key.sign(providers.sns_string_to_sign(message), padding.PKCS1v15(), algorithm)
    return {**message, "Signature": base64.b64encode(signature).decode()}


@dataclass
class Network:
    """What the SES hook would have fetched: certificates, and confirmations."""

    fetched: list[str]
    confirmed: list[str]


@pytest.fixture
def network(app: FastAPI) -> Iterator[Network]:
    net = Network([], [])

    async def fetch(url: str) -> bytes:
        net.fetched.append(url)
        return SNS_CERT

    async def confirm(url: str) -> None:
        net.confirmed.append(url)

    settings = app.state.settings.model_copy(
        update={
            "bounce_webhook_secret": SECRET,
            "bounce_sns_topic_arns": payloads.TOPIC + ", arn:aws:sns:eu-west-1:1:other",
            "bounce_mailgun_signing_key": MAILGUN_KEY,
            "bounce_sendgrid_public_key": SENDGRID_PUBLIC,
        }
    )
    # starlette's State is not for monkeypatch: set and put back by hand.
    before = (app.state.bounce_hooks, app.state.settings)
    app.state.bounce_hooks = Clients(providers.SnsVerifier(fetch), confirm)
    app.state.settings = settings
    try:
        yield net
    finally:
        app.state.bounce_hooks, app.state.settings = before


@dataclass
class Sent:
    id: int
    email: str
    message_id: str
    return_path: str
    raw: bytes


async def sent(app: FastAPI, account: Account, tmp_path: Path) -> Sent:
    to = address("hook")
    created = await create_request(account, email=to)
    await dispatch(app, f"maildir:{tmp_path / 'out'}", bounce_address=BOUNCES)
    raw = sent_to(tmp_path / "out", to)
    message = parse(raw)
    return Sent(
        int(created["id"]),
        to,
        str(message["Message-ID"]),
        str(message["Return-Path"]).strip("<>"),
        raw,
    )


async def post(client: httpx.AsyncClient, provider: str, body: Any, **kw: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    return await client.post(f"/hooks/bounces/{provider}", content=content, headers=headers, **kw)


async def failure(account: Account, request_id: int) -> str | None:
    value = (await fetch_request(account, request_id))["delivery_failure"]
    return None if value is None else str(value)


async def _unsubscribes(account: Account) -> set[str]:
    from sqlalchemy import select

    from opensure.models import Unsubscribe

    u = Unsubscribe.__table__
    engine = account.extra.get("engine")
    assert engine is not None
    async with engine.connect() as conn:
        rows = await conn.execute(select(u.c.email).where(u.c.account_id == account.id))
        return {r.email for r in rows}


@pytest.fixture
def acct(app: FastAPI, account: Account) -> Account:
    account.extra["engine"] = app.state.engine
    return account


# ---- Amazon SES through SNS ----


async def test_ses_bounce_with_a_good_signature_is_recorded(
    app: FastAPI, acct: Account, client: httpx.AsyncClient, tmp_path: Path, network: Network
) -> None:
    s = await sent(app, acct, tmp_path)
    # SES names the e-mail by its original Message-ID (commonHeaders) and its return path.
    note = payloads.ses_bounce(recipient=s.email, message_id=s.message_id, source=s.return_path)
    for version in ("1", "2"):
        envelope = {**payloads.sns_envelope(note), "SignatureVersion": version}
        r = await post(client, "ses", sns_sign(envelope))
        assert r.status_code == 200, r.text
    assert r.json()["recorded"] == 0  # the second one: recorded already
    assert (await failure(acct, s.id)) == (f"bounced: 5.1.1 smtp; 550 5.1.1 <{s.email}>... User")
    assert network.fetched == [payloads.CERT_URL]  # fetched once, then kept


async def test_ses_bad_signatures_and_foreign_topics_are_refused(
    app: FastAPI, acct: Account, client: httpx.AsyncClient, tmp_path: Path, network: Network
) -> None:
    s = await sent(app, acct, tmp_path)
    note = payloads.ses_bounce(recipient=s.email, message_id=s.message_id, source=s.return_path)
    good = sns_sign(payloads.sns_envelope(note))
    tampered = {**good, "Message": good["Message"].replace("Permanent", "Permanent ")}
    other_key = sns_sign(payloads.sns_envelope(note), OTHER_KEY)
    foreign = sns_sign(payloads.sns_envelope(note, topic="arn:aws:sns:us-east-1:666:evil"))
    not_sns = {**good, "SigningCertURL": "https://example.com/cert.pem"}
    plain_http = {**good, "SigningCertURL": payloads.CERT_URL.replace("https", "http")}
    lookalike = {**good, "SigningCertURL": "https://sns.us-east-1.amazonaws.com.evil.example/c"}
    for body in (tampered, other_key, foreign, not_sns, plain_http, lookalike):
        r = await post(client, "ses", body)
        assert r.status_code == 403, r.text
    assert (await post(client, "ses", b"not json")).status_code == 400
    assert await failure(acct, s.id) is None
    # Only the SNS certificate URL was ever fetched.
    assert set(network.fetched) <= {payloads.CERT_URL}


async def test_ses_subscription_is_confirmed_and_complaints_unsubscribe(
    app: FastAPI, acct: Account, client: httpx.AsyncClient, tmp_path: Path, network: Network
) -> None:
    r = await post(client, "ses", sns_sign(payloads.sns_subscription()))
    assert r.status_code == 200, r.text
    assert len(network.confirmed) == 1
    assert network.confirmed[0].startswith("https://sns.us-east-1.amazonaws.com/")
    s = await sent(app, acct, tmp_path)
    note = payloads.ses_complaint(recipient=s.email, message_id=s.message_id, source=BOUNCES)
    r = await post(client, "ses", sns_sign(payloads.sns_envelope(note)))
    assert r.json() == {"recorded": 0, "unsubscribed": 1, "ignored": 0}
    assert s.email in await _unsubscribes(acct)
    assert await failure(acct, s.id) is None  # a complaint is not a delivery failure


async def test_ses_transient_bounce_is_only_logged(
    app: FastAPI, acct: Account, client: httpx.AsyncClient, tmp_path: Path, network: Network
) -> None:
    s = await sent(app, acct, tmp_path)
    note = payloads.ses_bounce(
        recipient=s.email, message_id=s.message_id, source=s.return_path, permanent=False
    )
    r = await post(client, "ses", sns_sign(payloads.sns_envelope(note)))
    assert r.status_code == 200
    assert await failure(acct, s.id) is None


# ---- Postmark ----


async def test_postmark_with_basic_auth_or_token(
    app: FastAPI, acct: Account, client: httpx.AsyncClient, tmp_path: Path, network: Network
) -> None:
    s = await sent(app, acct, tmp_path)
    body = payloads.postmark_bounce(recipient=s.email, content=s.raw.decode())
    for bad in ({"auth": ("postmark", "wrong")}, {}, {"params": {"token": "wrong"}}):
        assert (await post(client, "postmark", body, **bad)).status_code == 403
    assert await failure(acct, s.id) is None
    r = await post(client, "postmark", body, auth=("postmark", SECRET))
    assert r.json()["recorded"] == 1
    assert "does not exist" in (await failure(acct, s.id) or "")

    t = await sent(app, acct, tmp_path)
    soft = payloads.postmark_bounce(recipient=t.email, content=t.raw.decode(), hard=False)
    assert (await post(client, "postmark", soft, params={"token": SECRET})).status_code == 200
    assert await failure(acct, t.id) is None
    spam = payloads.postmark_complaint(recipient=t.email, content=t.raw.decode())
    r = await post(client, "postmark", spam, params={"token": SECRET})
    assert r.json()["unsubscribed"] == 1
    assert t.email in await _unsubscribes(acct)


# ---- Mailgun ----


def mailgun_signed(payload: dict[str, Any], key: str = MAILGUN_KEY) -> dict[str, Any]:
    timestamp, token = "1529006854", "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    digest = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {**payload, "signature": {"timestamp": timestamp, "token": token, "signature": digest}}


async def test_mailgun_signatures(
    app: FastAPI, acct: Account, client: httpx.AsyncClient, tmp_path: Path, network: Network
) -> None:
    s = await sent(app, acct, tmp_path)
    event = payloads.mailgun_failed(recipient=s.email, message_id=s.message_id, sender=BOUNCES)
    assert (await post(client, "mailgun", mailgun_signed(event, "wrong-key"))).status_code == 403
    assert (await post(client, "mailgun", event)).status_code == 403
    assert await failure(acct, s.id) is None
    r = await post(client, "mailgun", mailgun_signed(event))
    assert r.json()["recorded"] == 1
    assert (await failure(acct, s.id)) == "bounced: 5.1.1 Not delivered"

    t = await sent(app, acct, tmp_path)
    temporary = payloads.mailgun_failed(
        recipient=t.email, message_id=t.message_id, sender=t.return_path, permanent=False
    )
    assert (await post(client, "mailgun", mailgun_signed(temporary))).status_code == 200
    assert await failure(acct, t.id) is None
    complaint = payloads.mailgun_complained(recipient=t.email, message_id=t.message_id)
    r = await post(client, "mailgun", mailgun_signed(complaint))
    assert r.json()["unsubscribed"] == 1


# ---- SendGrid ----


def sendgrid_headers(body: bytes, key: ec.EllipticCurvePrivateKey = SENDGRID_KEY) -> dict:
    timestamp = "1600112502"
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        providers.SENDGRID_SIGNATURE: base64.b64encode(signature).decode(),
        providers.SENDGRID_TIMESTAMP: timestamp,
    }


async def test_sendgrid_signatures(
    app: FastAPI, acct: Account, client: httpx.AsyncClient, tmp_path: Path, network: Network
) -> None:
    s = await sent(app, acct, tmp_path)
    events = payloads.sendgrid_events(
        recipient=s.email, message_id=s.message_id, other=address("other")
    )
    body = json.dumps(events).encode()
    other = ec.generate_private_key(ec.SECP256R1())
    assert (
        await post(client, "sendgrid", body, headers=sendgrid_headers(body, other))
    ).status_code == 403
    tampered = body.replace(b"5.0.0", b"5.0.1")
    r = await post(client, "sendgrid", tampered, headers=sendgrid_headers(body))
    assert r.status_code == 403
    assert (await post(client, "sendgrid", body)).status_code == 403
    assert await failure(acct, s.id) is None
    r = await post(client, "sendgrid", body, headers=sendgrid_headers(body))
    # The bounce of our e-mail is recorded; another sender's is ignored.
    assert r.json() == {"recorded": 1, "unsubscribed": 0, "ignored": 1}
    assert (await failure(acct, s.id)) == "bounced: 5.0.0 500 unknown recipient"

    spam = json.dumps(payloads.sendgrid_spamreport(recipient=s.email, message_id=s.message_id))
    r = await post(client, "sendgrid", spam.encode(), headers=sendgrid_headers(spam.encode()))
    assert r.json()["unsubscribed"] == 1


# ---- set-up ----


async def test_a_provider_not_set_up_is_not_found(app: FastAPI, client: httpx.AsyncClient) -> None:
    # The session's app has none of the providers' secrets.
    for provider in ("ses", "postmark", "mailgun", "sendgrid", "nobody"):
        r = await post(client, provider, {"a": 1})
        assert r.status_code == 404, (provider, r.text)


def test_sns_urls() -> None:
    assert providers.sns_url_allowed(payloads.CERT_URL)
    assert providers.sns_url_allowed("https://sns.cn-north-1.amazonaws.com.cn/x.pem")
    for bad in (
        "http://sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        "https://s3.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
    ):
        assert not providers.sns_url_allowed(bad), bad
