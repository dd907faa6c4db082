"""A survey email from a loaded request (``repository.load``): what goes into it
(``EmailContent``), then the message in the account's template or the default."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opensure.core import branding
from opensure.core.languages import negotiate
from opensure.core.links import survey_link, unsubscribe_link
from opensure.dispatch.render import (
    EmailContent,
    RenderedEmail,
    build_message,
    delivery_address,
    from_header,
    message_id,
)
from opensure.dispatch.scale import rating_scale


def content_for(
    row: Any,
    params: Sequence[tuple[str, str]],
    *,
    base: str,
    sender: str,
    question: Any = None,
    reminder: bool = False,
) -> EmailContent:
    """``question``: the survey's first question; its scale is shown when it is a Rating. With
    ``reminder``, the request's one reminder: the same links, its own Message-ID."""
    brand = branding.brand_of(row, base)
    # negotiate() is cached per tag: no catalog work per e-mail.
    lang = negotiate(row.language)
    return EmailContent(
        to=delivery_address(row.email),
        to_name=" ".join(p for p in (row.first_name, row.surname) if p) or None,
        first_name=row.first_name,
        surname=row.surname,
        company=brand.company,
        reference=row.reference,
        survey_link=survey_link(base, row.survey_code, row.token, params),
        unsubscribe_link=unsubscribe_link(base, row.token),
        message_id=message_id(row.id, row.token, sender, reminder=reminder),
        colour=brand.colour,
        logo=brand.logo,
        rating=rating_scale(
            question,
            base=base,
            code=row.survey_code,
            token=row.token,
            params=params,
            lang=lang,
            requested=row.language,
        ),
        language=lang,
        reminder=reminder,
    )


def message_for(row: Any, content: EmailContent, *, sender: str) -> RenderedEmail:
    """TemplateProblem if the account's template cannot be rendered. From keeps the
    installation's address (its SPF and DKIM) with the account's sender name, if it has one."""
    return build_message(
        content,
        sender=from_header(sender, row.sender_name),
        subject_template=row.template_subject,
        body_template=row.template_body,
        reply_to=row.reply_to,
    )
