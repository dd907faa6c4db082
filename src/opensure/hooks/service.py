"""What a provider's notification does: bounces through ``dispatch.bounces`` (one path for
every bounce: ``repository.record_bounce``), complaints through the account's unsubscribe list
(``accounts.service.add_unsubscribe``, as the console and the CLI add one)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.accounts import service as accounts
from opensure.config import Settings
from opensure.core.errors import AdminError
from opensure.dispatch import bounces
from opensure.dispatch.bounces import Handled, Report
from opensure.feedback_requests import events
from opensure.hooks import providers
from opensure.hooks.providers import Malformed, NotConfigured, Refused, SnsVerifier

log = logging.getLogger("opensure.hooks")

Confirm = Callable[[str], Awaitable[None]]


async def _get(url: str) -> bytes:
    # Only ever an https URL on an SNS host (providers.sns_url_allowed); no redirects.
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.content


async def _confirm(url: str) -> None:
    await _get(url)


@dataclass
class Clients:
    """How the SES hook reaches SNS: the signing certificate, the subscription confirmation.
    Replaced in tests (which never use the network)."""

    sns: SnsVerifier = field(default_factory=lambda: SnsVerifier(_get))
    confirm: Confirm = _confirm


async def reports_for(
    provider: str,
    settings: Settings,
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    clients: Clients,
) -> list[Report]:
    """The reports of an authenticated notification (Refused, NotConfigured, Malformed)."""
    if provider == "ses":
        return await _ses(settings, body, clients)
    if provider == "postmark":
        providers.check_postmark(settings, headers.get("authorization"), query.get("token"))
        return providers.postmark_reports(providers.parse_json(body))
    if provider == "mailgun":
        payload = providers.parse_json(body)
        providers.check_mailgun(settings, payload)
        return providers.mailgun_reports(payload)
    if provider == "sendgrid":
        providers.check_sendgrid(
            settings,
            body,
            headers.get(providers.SENDGRID_SIGNATURE),
            headers.get(providers.SENDGRID_TIMESTAMP),
        )
        return providers.sendgrid_reports(providers.parse_json(body))
    raise NotConfigured(provider)


async def _ses(settings: Settings, body: bytes, clients: Clients) -> list[Report]:
    topics = providers.sns_topics(settings)
    if not topics:
        raise NotConfigured("ses")
    message = providers.parse_json(body)
    if not isinstance(message, dict):
        raise Malformed("an SNS message is one JSON object")
    await clients.sns.verify(message)
    if message.get("TopicArn") not in topics:
        raise Refused("the SNS topic is not one of OPENSURE_BOUNCE_SNS_TOPIC_ARNS")
    kind = message.get("Type")
    if kind == "SubscriptionConfirmation":
        url = str(message.get("SubscribeURL", ""))
        if not providers.sns_url_allowed(url):
            raise Refused("the subscription URL is not on an SNS host over https")
        await clients.confirm(url)
        log.info("confirmed the SNS subscription to %s", message.get("TopicArn"))
        return []
    if kind != "Notification":
        return []
    try:
        notification = json.loads(str(message.get("Message", "")))
    except ValueError as exc:
        raise Malformed("the SNS message holds no SES notification") from exc
    if not isinstance(notification, dict):
        raise Malformed("the SNS message holds no SES notification")
    return providers.ses_reports(notification)


async def complain(conn: AsyncConnection, row: Any) -> bool:
    """A spam complaint about a request's e-mail (a provider's notification or a feedback
    report in the bounce mailbox): its address goes on the account's unsubscribe list. True if
    it did (an erased request has no address left to add)."""
    if not row.email:
        return False
    try:
        await accounts.add_unsubscribe(conn, row.account_id, row.email)
    except AdminError:
        return False
    log.info("request %s: spam complaint, address unsubscribed", row.id)
    return True


async def handle(conn: AsyncConnection, reports: Sequence[Report], now: dt.datetime) -> Handled:
    return await bounces.handle(
        conn, reports, now, on_failed=events.delivery_failed, on_complaint=complain
    )


__all__ = [
    "Clients",
    "Handled",
    "Malformed",
    "NotConfigured",
    "Refused",
    "complain",
    "handle",
    "reports_for",
]
