"""Bounce messages as mail servers write them, for the tests to drop into a Maildir."""

from __future__ import annotations

import mailbox
from pathlib import Path

from tests.dispatch.support import parse


def dsn(
    *,
    to: str,
    recipient: str,
    original: bytes,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{r}>: Recipient address rejected: User unknown",
) -> bytes:
    """An RFC 3464 delivery status notification as Postfix sends one: to the return path
    ``to``, about ``recipient``, with the original message's headers."""
    headers = original.split(b"\r\n\r\n", 1)[0].decode()
    return (
        "Return-Path: <>\r\n"
        f"Delivered-To: {to}\r\n"
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"To: {to}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        '\tboundary="B1"\r\n'
        "Message-Id: <20261206101010.AB12C3D4@mx.example.net>\r\n"
        "\r\n"
        "This is a MIME-encapsulated message.\r\n"
        "\r\n"
        "--B1\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n"
        "\r\n"
        "--B1\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n"
        "Arrival-Date: Sun,  6 Dec 2026 10:10:09 +0000 (UTC)\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; mail.example.com\r\n"
        f"Diagnostic-Code: {diagnostic.format(r=recipient)}\r\n"
        "\r\n"
        "--B1\r\n"
        "Content-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        f"{headers}\r\n"
        "\r\n"
        "--B1--\r\n"
    ).encode()


def arf(*, to: str, recipient: str, original: bytes, feedback_type: str = "abuse") -> bytes:
    """An RFC 5965 feedback report (a mailbox provider's "this is spam" report, as in the RFC's
    own example): to ``to``, about the e-mail ``original`` sent to ``recipient``, attached whole."""
    return (
        (
            "From: <feedback-loop@mailbox.example>\r\n"
            f"To: <{to}>\r\n"
            "Subject: FW: Your survey\r\n"
            "Date: Sun, 6 Dec 2026 10:20:00 +0000\r\n"
            "MIME-Version: 1.0\r\n"
            "Message-ID: <433689.81121.example@mailbox.example>\r\n"
            'Content-Type: multipart/report; report-type=feedback-report; boundary="part1"\r\n'
            "\r\n"
            "--part1\r\n"
            'Content-Type: text/plain; charset="US-ASCII"\r\n'
            "\r\n"
            "This is an email abuse report for an email message received from IP 192.0.2.1.\r\n"
            "\r\n"
            "--part1\r\n"
            "Content-Type: message/feedback-report\r\n"
            "\r\n"
            f"Feedback-Type: {feedback_type}\r\n"
            "User-Agent: SomeGenerator/1.0\r\n"
            "Version: 1\r\n"
            f"Original-Rcpt-To: <{recipient}>\r\n"
            "Arrival-Date: Sun, 6 Dec 2026 10:10:09 +0000\r\n"
            "\r\n"
            "--part1\r\n"
            "Content-Type: message/rfc822\r\n"
            "Content-Disposition: inline\r\n"
            "\r\n"
        ).encode()
        + original
        + b"\r\n--part1--\r\n"
    )


def qmail(*, to: str, recipient: str) -> bytes:
    """A non-standard bounce (qmail's), which only the heuristics of flufl.bounce read."""
    return (
        f"Return-Path: <>\r\nDelivered-To: {to}\r\nTo: {to}\r\n"
        "From: MAILER-DAEMON@mx.example.net\r\n"
        "Subject: failure notice\r\n\r\n"
        "Hi. This is the qmail-send program at mx.example.net.\r\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
        f"<{recipient}>:\r\n"
        "Sorry, no mailbox here by that name. (#5.1.1)\r\n\r\n"
        "--- Below this line is a copy of the message.\r\n\r\n"
    ).encode()


def drop(box: Path, raw: bytes) -> None:
    """Deliver ``raw`` into the Maildir ``box`` (into new/, as an MTA does)."""
    mailbox.Maildir(box, create=True).add(raw)


def outbox(path: Path) -> list[bytes]:
    return [m.as_bytes() for m in mailbox.Maildir(path, create=False)]


def sent_to(path: Path, address: str) -> bytes:
    found = [raw for raw in outbox(path) if parse(raw)["To"].addresses[0].addr_spec == address]
    assert len(found) == 1, len(found)
    return found[0]
