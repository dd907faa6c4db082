"""Bounces: what a bounce message says (RFC 3464 delivery status notifications with the
standard library's ``email``; other shapes through ``flufl.bounce``, the detectors GNU Mailman
uses; RFC 5965 feedback reports, the complaints mailbox providers send), and what happens to the
request it names (``handle``).

A report names its request by the e-mail's return path (``verp``: the bounce is addressed to
it) or by the e-mail's Message-ID (quoted in the returned headers); either is checked against
the request's token before anything is changed. A permanent failure goes through
``repository.record_bounce``; a temporary one (a delay warning, a 4.x.x status) is only logged.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from email.message import Message
from typing import Any, Literal

from flufl.bounce import all_failures
from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.dispatch import repository as repo
from opensure.dispatch import verp

log = logging.getLogger("opensure.dispatch.bounces")

Kind = Literal["permanent", "temporary", "complaint"]

# Headers a bounce is addressed by: the return path the message went back to.
_ADDRESSED = ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
MAX_DETAIL = 500


@dataclass(frozen=True)
class Report:
    """One recipient's failure (or complaint) as a bounce or a provider reports it."""

    kind: Kind
    recipient: str | None
    detail: str
    refs: tuple[verp.Ref, ...]


def failure_text(status: str | None, detail: str | None) -> str:
    """What ``delivery_failure`` holds for a bounce: ``bounced: 5.1.1 smtp; 550 …``."""
    text = " ".join(p for p in (status, " ".join((detail or "").split())) if p)
    return ("bounced: " + text if text else "bounced")[:MAX_DETAIL]


def _texts(message: Message) -> Iterable[str]:
    for name in _ADDRESSED:
        for value in message.get_all(name) or ():
            yield str(value)
    # The returned message or its headers (message/rfc822, text/rfc822-headers), and the body
    # of a bounce that is not a DSN: wherever our Message-ID or return path is quoted.
    for part in message.walk():
        for name in ("Message-ID", "Return-Path"):
            for value in part.get_all(name) or ():
                yield str(value)
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            yield payload.decode("utf-8", "replace")


def parse(raw: bytes) -> list[Report]:
    """The failures (and complaints) a message reports (none: neither, or one we cannot
    read)."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    refs = tuple(verp.refs_in(_texts(message)))
    reports = _feedback_report(message, refs)
    if reports is not None:
        return reports
    reports = _dsn(message, refs)
    if reports is not None:
        return reports
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector tripping over an odd message: not a bounce we can read
        log.warning("bounce detectors failed on a message", exc_info=True)
        return []
    subject = " ".join(str(message.get("Subject", "")).split())
    out = [
        Report("permanent", _text(a), failure_text(None, subject or "non-standard bounce"), refs)
        for a in sorted(permanent)
    ]
    out += [
        Report("temporary", _text(a), failure_text(None, subject), refs) for a in sorted(temporary)
    ]
    if not out and refs and _looks_like_bounce(message):
        # A bounce addressed to one of our return paths that names no recipient we can read:
        # the return path alone ties it to its request.
        out.append(Report("permanent", None, failure_text(None, subject or "bounce"), refs))
    return out


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _looks_like_bounce(message: Message) -> bool:
    sender = str(message.get("From", "")).lower()
    return "mailer-daemon" in sender or "postmaster" in sender


def _report_part(message: Message, content_type: str) -> Message | None:
    """The machine-readable part of a multipart/report (RFC 6522) of this type, if it is one."""
    if message.get_content_type() != "multipart/report":
        return None
    return next((p for p in message.walk() if p.get_content_type() == content_type), None)


# RFC 5965 feedback types that are the recipient's complaint about the e-mail ("this is spam");
# "not-spam", "virus" and "other" are not.
COMPLAINT_TYPES = ("abuse", "fraud")


def _feedback_report(message: Message, refs: tuple[verp.Ref, ...]) -> list[Report] | None:
    """RFC 5965 (ARF): multipart/report; report-type=feedback-report with a
    message/feedback-report part of fields, and the e-mail complained about (or its headers)
    after it, where our Message-ID and return path are read. None if not a feedback report."""
    part = _report_part(message, "message/feedback-report")
    if part is None:
        return None
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        fields: Message = payload[0]  # the parser reads the fields as a message's headers
    else:
        fields = email.message_from_string(str(payload), policy=email.policy.compat32)
    feedback_type = str(fields.get("Feedback-Type", "")).strip().lower()
    if feedback_type not in COMPLAINT_TYPES:
        log.info("a feedback report of type %r: not a complaint, nothing done", feedback_type)
        return []
    recipient = _address_field(fields.get("Original-Rcpt-To"))
    return [Report("complaint", recipient, f"complaint: {feedback_type}", refs)]


def _dsn(message: Message, refs: tuple[verp.Ref, ...]) -> list[Report] | None:
    """RFC 3464: multipart/report; report-type=delivery-status with a message/delivery-status
    part of field groups, the first per message, then one per recipient. None if not a DSN."""
    status_part = _report_part(message, "message/delivery-status")
    if status_part is None:
        return None
    groups = status_part.get_payload()
    if not isinstance(groups, list):
        return None
    reports = []
    for group in groups[1:]:
        if not isinstance(group, Message):
            continue
        action = str(group.get("Action", "")).strip().lower()
        status = str(group.get("Status", "")).strip() or None
        recipient = _address_field(group.get("Final-Recipient") or group.get("Original-Recipient"))
        diagnostic = str(group.get("Diagnostic-Code", "")).strip()
        kind = _dsn_kind(action, status)
        if kind is not None:
            reports.append(Report(kind, recipient, failure_text(status, diagnostic), refs))
    return reports


def _dsn_kind(action: str, status: str | None) -> Kind | None:
    """``failed`` with a 5.x.x status (or none) is permanent; ``delayed``, or any 4.x.x status,
    temporary; ``delivered``, ``relayed`` and ``expanded`` are not failures."""
    if status and status.startswith("4") and action in ("failed", "delayed"):
        return "temporary"
    if action == "failed":
        return "permanent"
    if action == "delayed":
        return "temporary"
    return None


def _address_field(value: Any) -> str | None:
    """``rfc822; jane@example.com`` → ``jane@example.com``."""
    if value is None:
        return None
    text = str(value).strip()
    return text.split(";", 1)[1].strip() if ";" in text else text or None


# ---- what a report does ----


async def target(conn: AsyncConnection, refs: Sequence[verp.Ref]) -> Any:
    """The request a report names, once its tag or Message-ID checks out against the request's
    token; None if it names none (or more than one) of ours."""
    found: dict[int, Any] = {}
    for ref in refs:
        if ref.request_id in found:
            continue
        row = await repo.bounce_target(conn, ref.request_id)
        if row is not None and verp.matches(ref, row.token):
            found[row.id] = row
    if len(found) != 1:
        if len(found) > 1:
            log.warning("a bounce names several requests (%s): ignored", sorted(found))
        return None
    return next(iter(found.values()))


# What the wiring runs, in the same transaction, when a bounce records a failure: the
# ``feedback_request.delivery_failed`` webhook event (``feedback_requests.events``), which the
# dispatcher, below the resources, cannot write itself.
OnFailed = Callable[[AsyncConnection, int], Awaitable[object]]


# What the wiring runs for a complaint about a request's e-mail (the loaded request row): the
# address goes on the account's unsubscribe list (``hooks.service.complain``, a resource's
# rule the dispatcher cannot import); True if it did.
OnComplaint = Callable[[AsyncConnection, Any], Awaitable[bool]]


@dataclass
class Handled:
    recorded: int = 0  # requests that took a delivery failure
    unsubscribed: int = 0  # addresses unsubscribed by a complaint
    ignored: int = 0  # reports naming no request of ours, or complaints that changed nothing


async def handle(
    conn: AsyncConnection,
    reports: Sequence[Report],
    now: dt.datetime,
    *,
    on_failed: OnFailed | None = None,
    on_complaint: OnComplaint | None = None,
) -> Handled:
    """Every report on the request it names, in the caller's transaction: the one path for a
    bounce mailbox's messages and a provider's notifications alike."""
    done = Handled()
    for report in reports:
        row = await target(conn, report.refs)
        if row is None:
            log.info("a report for no request of ours (%s)", report.detail)
            done.ignored += 1
        elif report.kind == "complaint":
            if on_complaint is not None and await on_complaint(conn, row):
                done.unsubscribed += 1
            else:
                done.ignored += 1
        else:
            done.recorded += await apply(conn, report, row, now, on_failed)
    return done


async def apply(
    conn: AsyncConnection,
    report: Report,
    row: Any,
    now: dt.datetime,
    on_failed: OnFailed | None = None,
) -> bool:
    """Record a permanent failure on its request (True if that changed it), then
    ``on_failed(conn, request id)``; a temporary one is only logged. Complaints go through
    ``handle``."""
    if report.kind == "permanent":
        changed = await repo.record_bounce(conn, row.id, report.detail, now)
        if changed and on_failed is not None:
            await on_failed(conn, row.id)
        log.info(
            "request %s: bounce %s (%s)",
            row.id,
            "recorded" if changed else "already recorded or not sent",
            report.detail,
        )
        return changed
    if report.kind == "temporary":
        log.info("request %s: temporary delivery failure reported: %s", row.id, report.detail)
    return False
