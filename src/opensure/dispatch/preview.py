"""A template rendered with sample values, as the console's editor previews it and sends it as a
test: the same ``render.build_message`` the dispatcher uses, so the preview is the real e-mail.

The sample customer is made up (:data:`SAMPLE`), and so is the survey's first question (a 0 to
10 Rating, ``scale.SampleQuestion``); the survey, answer and unsubscribe links are built like
real ones (``core.links``) but lead to no survey.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from email.utils import parseaddr

from opensure.core.links import survey_link, unsubscribe_link
from opensure.dispatch.mail import (
    NotReady,
    PermanentFailure,
    TemporaryFailure,
    Transport,
    transport_from_url,
)
from opensure.dispatch.render import EmailContent, RenderedEmail, build_message, delivery_address
from opensure.dispatch.scale import SampleQuestion, rating_scale
from opensure.dispatch.templating import TemplateProblem, template_problems

# The made-up customer of a preview. The apostrophe shows the HTML part's escaping.
SAMPLE = {
    "first_name": "Kate",
    "surname": "O'Neill",
    "email": "kate.oneill@example.com",
    "reference": "TICKET-1042",
}
SAMPLE_LINK_TOKEN = "sample-link-token"
SAMPLE_SURVEY_CODE = "sample"
TEST_PREFIX = "[Test] "


@dataclass(frozen=True)
class Preview:
    """Either the e-mail or what stops the template from rendering (never both)."""

    email: RenderedEmail | None
    problems: tuple[TemplateProblem, ...] = ()


def _message_id(sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<template-test-{secrets.token_hex(8)}@{domain}>"


def sample_content(*, company: str, base: str, sender: str, to: str | None = None) -> EmailContent:
    """The sample customer's e-mail content; ``to`` replaces the sample address (a test send)."""
    return EmailContent(
        to=delivery_address(to or SAMPLE["email"]),
        # A test goes to the admin, so it is not addressed to the sample customer by name.
        to_name=None if to else f"{SAMPLE['first_name']} {SAMPLE['surname']}",
        first_name=SAMPLE["first_name"],
        surname=SAMPLE["surname"],
        company=company,
        reference=SAMPLE["reference"],
        survey_link=survey_link(base, SAMPLE_SURVEY_CODE, SAMPLE_LINK_TOKEN),
        unsubscribe_link=unsubscribe_link(base, SAMPLE_LINK_TOKEN),
        message_id=_message_id(sender),
        # The survey's first question as if it were a Rating, so that ``rating_scale`` shows.
        rating=rating_scale(
            SampleQuestion(), base=base, code=SAMPLE_SURVEY_CODE, token=SAMPLE_LINK_TOKEN, params=()
        ),
    )


def preview(
    subject: str, body: str, *, company: str, base: str, sender: str, to: str | None = None
) -> Preview:
    """The template as the sample customer would get it, or its problems (the check made when a
    template is saved, ``templating.template_problems``)."""
    problems = template_problems(subject, body)
    if problems:
        return Preview(None, tuple(problems))
    content = sample_content(company=company, base=base, sender=sender, to=to)
    try:
        email = build_message(content, sender=sender, subject_template=subject, body_template=body)
    except TemplateProblem as exc:  # what only some values trigger; the check missed it
        return Preview(None, (exc,))
    return Preview(email)


def as_test(email: RenderedEmail) -> RenderedEmail:
    """The e-mail with its subject marked ``[Test] ``."""
    headers = tuple(
        (name, TEST_PREFIX + value if name == "Subject" else value) for name, value in email.headers
    )
    return replace(email, headers=headers)


class SendFailed(Exception):
    """The test e-mail was not sent; the message says why, in a sentence for the admin."""


async def send_test(email: RenderedEmail, *, mail_url: str, sender: str, to: str) -> None:
    """Send one e-mail through the transport the dispatcher uses (``OPENSURE_MAIL_URL``)."""
    try:
        transport: Transport = transport_from_url(mail_url)
    except ValueError as exc:
        raise SendFailed(f"The mail setting (OPENSURE_MAIL_URL) cannot be used: {exc}.") from exc
    try:
        async with transport.session() as session:
            await session.send(email, sender, delivery_address(to))
    except PermanentFailure as exc:
        raise SendFailed(f"The mail server refused the test e-mail: {exc}.") from exc
    except (TemporaryFailure, NotReady) as exc:
        raise SendFailed(f"The test e-mail could not be sent now: {exc}.") from exc
    except OSError as exc:
        raise SendFailed(f"The test e-mail could not be sent now: {exc}.") from exc
