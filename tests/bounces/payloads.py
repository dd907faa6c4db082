"""Provider notifications shaped as each provider's documentation shows them (field for field
from the documented samples), with the Message-ID and return path of an e-mail under test."""

from __future__ import annotations

import json
from typing import Any

TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-bounces"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000.pem"


def ses_bounce(*, recipient: str, message_id: str, source: str, permanent: bool = True) -> dict:
    """Amazon SES "Bounce notification with a DSN" (notification-examples.html)."""
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent" if permanent else "Transient",
            "reportingMTA": "dns; email.example.com",
            "bouncedRecipients": [
                {
                    "emailAddress": recipient,
                    "status": "5.1.1" if permanent else "4.2.2",
                    "action": "failed",
                    "diagnosticCode": f"smtp; 550 5.1.1 <{recipient}>... User",
                }
            ],
            "bounceSubType": "General" if permanent else "MailboxFull",
            "timestamp": "2016-01-27T14:59:38.237Z",
            "feedbackId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000",
            "remoteMtaIp": "127.0.2.0",
        },
        "mail": {
            "timestamp": "2016-01-27T14:59:38.237Z",
            "source": source,
            "sourceArn": "arn:aws:ses:us-east-1:888888888888:identity/example.com",
            "sourceIp": "127.0.3.0",
            "sendingAccountId": "123456789012",
            "messageId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
            "destination": [recipient],
            "headersTruncated": False,
            "headers": [
                {"name": "From", "value": "Acme <feedback@opensure.test>"},
                {"name": "To", "value": recipient},
                {"name": "Subject", "value": "How did we do?"},
                {"name": "Message-ID", "value": message_id},
            ],
            "commonHeaders": {
                "from": ["Acme <feedback@opensure.test>"],
                "to": [recipient],
                "messageId": message_id,
                "subject": "How did we do?",
            },
        },
    }


def ses_complaint(*, recipient: str, message_id: str, source: str) -> dict:
    """Amazon SES "Complaint notification with a feedback report"."""
    return {
        "notificationType": "Complaint",
        "complaint": {
            "userAgent": "AnyCompany Feedback Loop (V0.01)",
            "complainedRecipients": [{"emailAddress": recipient}],
            "complaintFeedbackType": "abuse",
            "arrivalDate": "2016-01-27T14:59:38.237Z",
            "timestamp": "2016-01-27T14:59:38.237Z",
            "feedbackId": "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000",
        },
        "mail": {
            "timestamp": "2016-01-27T14:59:38.237Z",
            "messageId": "000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000",
            "source": source,
            "sourceArn": "arn:aws:ses:us-east-1:888888888888:identity/example.com",
            "sourceIp": "127.0.3.0",
            "sendingAccountId": "123456789012",
            "destination": [recipient],
            "commonHeaders": {"to": [recipient], "messageId": message_id},
        },
    }


def sns_envelope(notification: dict, *, topic: str = TOPIC) -> dict[str, Any]:
    """The SNS HTTP(S) notification around it (sns-message-and-json-formats.html), unsigned."""
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": topic,
        "Subject": "Amazon SES Email Event Notification",
        "Message": json.dumps(notification),
        "Timestamp": "2012-05-02T00:54:06.655Z",
        "SignatureVersion": "1",
        "SigningCertURL": CERT_URL,
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&x=1",
    }


def sns_subscription(*, topic: str = TOPIC) -> dict[str, Any]:
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a7",
        "TopicArn": topic,
        "Message": f"You have chosen to subscribe to the topic {topic}.",
        "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
        f"&TopicArn={topic}&Token=2336412f37",
        "Timestamp": "2012-04-26T20:45:04.751Z",
        "SignatureVersion": "1",
        "SigningCertURL": CERT_URL,
    }


def postmark_bounce(*, recipient: str, content: str, hard: bool = True) -> dict:
    """Postmark's bounce webhook sample, with "Include bounce content" on (``Content``)."""
    return {
        "RecordType": "Bounce",
        "ID": 42,
        "Type": "HardBounce" if hard else "SoftBounce",
        "TypeCode": 1 if hard else 4096,
        "Name": "Hard bounce" if hard else "Soft bounce/Undeliverable",
        "Tag": "Test",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ServerID": 23,
        "MessageStream": "outbound",
        "Description": "The server was unable to deliver your message (ex: unknown user, "
        "mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": recipient,
        "From": "feedback@opensure.test",
        "BouncedAt": "2014-08-01T13:28:10.2735393-04:00",
        "DumpAvailable": True,
        "Inactive": hard,
        "CanActivate": True,
        "Subject": "How did we do?",
        "Content": content,
        "Metadata": {},
    }


def postmark_complaint(*, recipient: str, content: str) -> dict:
    """Postmark's spam complaint webhook sample."""
    return {
        "RecordType": "SpamComplaint",
        "MessageStream": "outbound",
        "ID": 42,
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "Tag": "Test",
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "ServerID": 1234,
        "Description": "",
        "Details": "Test spam complaint details",
        "Email": recipient,
        "From": "feedback@opensure.test",
        "BouncedAt": "2019-11-05T16:33:54.9070259Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": False,
        "Subject": "How did we do?",
        "Content": content,
    }


def mailgun_failed(*, recipient: str, message_id: str, sender: str, permanent: bool = True) -> dict:
    """Mailgun's "failed" event payload (webhook-payloads), without its signature."""
    return {
        "event-data": {
            "id": "G9Bn5sl1TC6nu79C8C0bwg",
            "timestamp": 1521233195.375624,
            "log-level": "error",
            "event": "failed",
            "severity": "permanent" if permanent else "temporary",
            "reason": "bounce" if permanent else "generic",
            "envelope": {"sender": sender, "transport": "smtp", "targets": recipient},
            "flags": {"is-routed": False, "is-authenticated": True, "is-test-mode": False},
            "message": {
                "headers": {
                    "to": recipient,
                    "message-id": message_id.strip("<>"),
                    "from": "Acme <feedback@opensure.test>",
                    "subject": "How did we do?",
                },
                "attachments": [],
                "size": 111,
            },
            "recipient": recipient,
            "recipient-domain": recipient.split("@")[1],
            "delivery-status": {
                "attempt-no": 1,
                "message": "No Such User Here",
                "code": 550 if permanent else 452,
                "enhanced-code": "5.1.1" if permanent else "4.2.2",
                "description": "Not delivered",
                "session-seconds": 0.0,
            },
        }
    }


def mailgun_complained(*, recipient: str, message_id: str) -> dict:
    return {
        "event-data": {
            "id": "-Agny091SquKnsrW2NEKUA",
            "timestamp": 1521233123.501324,
            "log-level": "warn",
            "event": "complained",
            "envelope": {"sending-ip": "173.193.210.33"},
            "flags": {"is-test-mode": False},
            "message": {"headers": {"to": recipient, "message-id": message_id.strip("<>")}},
            "recipient": recipient,
        }
    }


def sendgrid_events(*, recipient: str, message_id: str, other: str) -> list[dict]:
    """SendGrid's event webhook: a batch, as its reference shows them."""
    return [
        {
            "email": recipient,
            "timestamp": 1513299569,
            "smtp-id": message_id,
            "event": "processed",
            "category": "cat facts",
            "sg_event_id": "rbtnWrG1DVDGGGFHFyun0A==",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000",
        },
        {
            "email": recipient,
            "timestamp": 1513299569,
            "smtp-id": message_id,
            "event": "bounce",
            "category": "cat facts",
            "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000",
            "reason": "500 unknown recipient",
            "status": "5.0.0",
            "type": "bounce",
        },
        {
            "email": other,
            "timestamp": 1513299569,
            "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
            "event": "bounce",
            "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPx==",
            "reason": "500 unknown recipient",
            "status": "5.0.0",
            "type": "bounce",
        },
    ]


def sendgrid_spamreport(*, recipient: str, message_id: str) -> list[dict]:
    return [
        {
            "email": recipient,
            "timestamp": 1513299569,
            "smtp-id": message_id,
            "event": "spamreport",
            "sg_event_id": "37nvH5QBz858KGVYCM4uOA==",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000",
        }
    ]
