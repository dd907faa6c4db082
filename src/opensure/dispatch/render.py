"""Survey emails as MIME: multipart/alternative, plain text then HTML, from the rendered
template (``opensure.dispatch.templating``).

Customer-supplied values are escaped in the HTML part, and header values (subject, names)
are folded to one line so that a CR/LF in a name cannot add a header.
"""

from __future__ import annotations

import html as html_text
import quopri
import re
import secrets
import time
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from markupsafe import Markup

from opensure.core import branding
from opensure.core.languages import DEFAULT, direction
from opensure.core.translations import translator
from opensure.dispatch import verp
from opensure.dispatch.scale import RatingScale, as_html, as_text

# Re-exported: template saving checks a template here.
from opensure.dispatch.templating import (
    DEFAULT_BODY,
    DEFAULT_SUBJECT,
    TemplateProblem,
    check_template,
    default_template,
    reminder_subject,
    render,
    template_problems,
)

__all__ = [
    "DEFAULT_BODY",
    "DEFAULT_SUBJECT",
    "EmailContent",
    "RenderedEmail",
    "TemplateProblem",
    "build_message",
    "check_template",
    "delivery_address",
    "from_header",
    "message_id",
    "one_line",
    "template_problems",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_URL = re.compile(r"https?://[^\s<>\"']+")


def one_line(value: str) -> str:
    """A header-safe value: control characters (CR, LF, …) become single spaces."""
    return " ".join(_CONTROL.sub(" ", value).split())


@dataclass(frozen=True, slots=True)
class EmailContent:
    to: str
    to_name: str | None
    first_name: str | None
    surname: str | None
    company: str
    reference: str | None
    survey_link: str
    unsubscribe_link: str
    message_id: str
    # The account's brand (``core.branding``): ``#rrggbb`` and the logo's absolute URL.
    colour: str | None = None
    logo: str | None = None
    # The survey's first question when it is a Rating, with this request's links (one click).
    rating: RatingScale | None = None
    # The built-in language the customer gets (``core.languages.negotiate`` of the request's
    # ``language`` data item): the default template's and the HTML part's language.
    language: str = DEFAULT
    # The request's one reminder rather than its first e-mail (docs/reminders.md).
    reminder: bool = False


# Where the rating scale goes in the HTML part: the template renders this (a value no customer
# text can hold), then the scale's table replaces it once the text has become paragraphs, so
# that the table is neither escaped nor turned into paragraphs and links a second time.
_SCALE_MARK = "opensure-rating-scale-" + secrets.token_hex(8)
# Mail clients that support them recolour the message for dark mode with these (Apple Mail,
# Outlook.com and others); the rest keep the inline colours, explicit on every background,
# or invert the whole message themselves.
DARK_STYLE = (
    "<style>:root { color-scheme: light dark; supported-color-schemes: light dark; }"
    " @media (prefers-color-scheme: dark) {"
    " .os-body, .os-scale { background-color: #111827 !important; color: #f3f4f6 !important; }"
    " .os-text { color: #f3f4f6 !important; } .os-muted { color: #d1d5db !important; } }"
    "</style>"
)


def _html_document(rendered_body: str, content: EmailContent, lang: str | None = None) -> str:
    """Paragraphs and clickable links from the escaped text body; the account's logo above
    them and its colour on the links, when it has them."""
    paragraphs = [p for p in re.split(r"\n\s*\n", rendered_body.strip()) if p.strip()]
    link_style = _link_style(content.colour)
    parts = []
    if content.logo:
        alt = html_text.escape(content.company, quote=True)
        parts.append(
            f'<p style="margin: 0 0 1.5em;"><img src="{html_text.escape(content.logo)}" '
            f'alt="{alt}" style="display: block; max-width: 240px; max-height: 64px;'
            ' height: auto; border: 0;"></p>'
        )
    scale = as_html(content.rating, content.colour) if content.rating is not None else ""
    for paragraph in paragraphs:
        if paragraph.strip() == _SCALE_MARK:
            parts.append(scale)
            continue
        linked = _URL.sub(
            lambda m: f'<a href="{m.group(0)}"{link_style}>{m.group(0)}</a>', paragraph
        )
        linked = "<p>" + linked.replace("\n", "<br>\n") + "</p>"
        parts.append(linked.replace(_SCALE_MARK, scale) if _SCALE_MARK in linked else linked)
    # A bar in the brand colour across the top.
    accent = f" border-top: 6px solid {content.colour};" if content.colour else ""
    # The language is named only when it is known: the built-in default's (an account's own
    # template is in whatever language it was written in).
    html_tag = f'<html lang="{lang}" dir="{direction(lang)}">' if lang else "<html>"
    return (
        "<!doctype html>\n" + html_tag + '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        '<meta name="supported-color-schemes" content="light dark">' + DARK_STYLE + "</head>\n"
        '<body class="os-body" style="font-family: -apple-system, Segoe UI, Roboto, Helvetica,'
        " Arial, sans-serif; font-size: 16px; line-height: 1.5; color: #1f2937;"
        " background-color: #ffffff; max-width: 36em; margin: 0 auto; overflow-wrap: anywhere;"
        f' padding: 1em;{accent}">\n' + "\n".join(parts) + "\n</body></html>\n"
    )


@lru_cache(maxsize=256)
def _link_style(colour: str | None) -> str:
    """Links in the brand colour where it reads on white; otherwise the usual link colour,
    underlined in the brand colour."""
    if not colour:
        return ""
    if branding.readable_on_white(colour):
        return f' style="color: {colour};"'
    return f' style="color: #1d4ed8; text-decoration: none; border-bottom: 3px solid {colour};"'


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """A ready-to-send MIME message (multipart/alternative: text, then HTML)."""

    headers: tuple[tuple[str, str], ...]
    text: str
    html: str

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def as_bytes(self) -> bytes:
        # Built by hand: the email package's header registry costs milliseconds a message,
        # which at thousands of emails a second is most of the dispatcher's time.
        # "=_" never occurs in quoted-printable, and a random token not in a 7bit part.
        boundary = "=_opensure_" + secrets.token_hex(12)
        text_encoding, text = _body(self.text)
        html_encoding, html = _body(self.html)
        lines = [f"{name}: {_encode_header(name, value)}" for name, value in self.headers]
        lines += [
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
            "",
            f"--{boundary}",
            'Content-Type: text/plain; charset="utf-8"',
            f"Content-Transfer-Encoding: {text_encoding}",
            "",
            text,
            f"--{boundary}",
            'Content-Type: text/html; charset="utf-8"',
            f"Content-Transfer-Encoding: {html_encoding}",
            "",
            html,
            f"--{boundary}--",
            "",
        ]
        # ASCII except a non-ASCII mailbox, which is only sent over SMTPUTF8 (RFC 6532).
        return "\r\n".join(lines).encode("utf-8")


# RFC 5322 §2.1.1: a line holds at most 998 characters, its CRLF aside.
_MAX_LINE = 998


def _body(text: str) -> tuple[str, str]:
    """A text part's Content-Transfer-Encoding and its body, every line ending CRLF. ASCII
    text whose lines fit goes as it is (7bit, RFC 2045 §2.7: no NUL, no lone CR or LF); any
    other text quoted-printable. Encoding costs the dispatcher more than anything else in a
    message (about 50 µs for the default HTML), and most e-mails need none."""
    text = text.replace("\r\n", "\n")
    if (
        text.isascii()
        and "\r" not in text
        and "\0" not in text
        and all(len(line) <= _MAX_LINE for line in text.split("\n"))
    ):
        return "7bit", text.replace("\n", "\r\n")
    return "quoted-printable", _qp(text)


def _qp(text: str) -> str:
    """Quoted-printable of text whose line endings are LF (``_body`` makes them so)."""
    encoded = quopri.encodestring(text.encode("utf-8"))
    return encoded.decode("ascii").replace("\n", "\r\n")


def _encode_header(name: str, value: str) -> str:
    if name in ("To", "From", "Reply-To") and not value.isascii():
        display, address = parseaddr(value)
        if not address.isascii():
            return value  # the display name is encoded already; the mailbox stays UTF-8
        return formataddr((display, address), charset="utf-8")
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8", header_name=name).encode()


def _address(name: str, address: str) -> str:
    """formataddr() that also takes a non-ASCII mailbox (formataddr() refuses one)."""
    if not name:
        return address
    if address.isascii():
        return formataddr((name, address))
    return formataddr((name, "x@x")).removesuffix("<x@x>") + f"<{address}>"


def build_message(
    content: EmailContent,
    *,
    sender: str,
    subject_template: str | None,
    body_template: str | None,
    reply_to: str | None = None,
) -> RenderedEmail:
    default_subject, default_body = default_template(content.language)
    if content.reminder:
        subject_source = reminder_subject(subject_template, content.language)
    else:
        subject_source = subject_template or default_subject
    body_source = body_template or default_body
    first_name = one_line(content.first_name or "")
    surname = one_line(content.surname or "")
    values = {
        "first_name": first_name,
        "surname": surname,
        "name": " ".join(p for p in (first_name, surname) if p),
        "email": content.to,
        "company": content.company,
        "reference": content.reference or "",
        "survey_link": content.survey_link,
        "unsubscribe_link": content.unsubscribe_link,
        "rating_scale": as_text(content.rating),
        # A text placeholder like the others (the fast path renders only text): set or empty.
        "reminder": "reminder" if content.reminder else "",
    }
    # The scale belongs to the body: in a subject it is left empty.
    subject_values = {**values, "rating_scale": ""} if content.rating is not None else values
    subject = one_line(render(subject_source, False, subject_values)) or translator(
        content.language
    ).gettext("How did we do?")
    text = render(body_source, False, values)
    # Autoescaping escapes every value, the customer's included; links are then made clickable.
    # The scale is markup already (its question escaped): the template places a mark for it.
    values["rating_scale"] = Markup(_SCALE_MARK) if content.rating is not None else ""
    html = _html_document(
        render(body_source, True, values),
        content,
        None if body_template else content.language,
    )
    to_name = one_line(content.to_name or "")
    headers: tuple[tuple[str, str], ...] = (
        ("Subject", subject),
        ("From", one_line(sender)),
        ("To", _address(to_name, content.to)),
        ("Date", _date()),
        ("Message-ID", content.message_id),
        ("List-Unsubscribe", f"<{content.unsubscribe_link}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Auto-Submitted", "auto-generated"),
    )
    if reply_to:
        headers += (("Reply-To", one_line(reply_to)),)
    return RenderedEmail(headers, text, html)


@lru_cache(maxsize=256)
def from_header(mail_from: str, sender_name: str | None) -> str:
    """The From header: the installation's address (``OPENSURE_MAIL_FROM``, which keeps its
    SPF and DKIM) under the account's sender name, or ``mail_from`` as it is without one."""
    if not sender_name:
        return mail_from
    return _address(one_line(sender_name), parseaddr(mail_from)[1])


_last_date: tuple[int, str] = (0, "")


def _date() -> str:
    """``formatdate(usegmt=True)`` for now, formatted once a second (it has no finer part)."""
    global _last_date
    second = int(time.time())
    if _last_date[0] != second:
        _last_date = (second, formatdate(second, localtime=False, usegmt=True))
    return _last_date[1]


def delivery_address(address: str) -> str:
    """The address to send to: an internationalised domain in its ASCII (IDNA) form, so that
    only a non-ASCII mailbox name needs a server with SMTPUTF8."""
    if address.isascii():
        return address
    try:
        found = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return address
    return found.ascii_email or f"{found.local_part}@{found.ascii_domain}"


def message_id(request_id: int, token: str, sender: str, *, reminder: bool = False) -> str:
    """Stable per request, so a resend after a crash can be recognised downstream; the
    request's return-path tag (``verp.tag``, an HMAC under its token) lets a bounce that quotes
    it name the request, and reveals nothing of the survey link's token. The reminder's differs
    from the first e-mail's (and is as stable)."""
    kind = "feedback-reminder" if reminder else "feedback-request"
    return f"<{kind}-{request_id}.{verp.tag(token)}@{_sender_domain(sender)}>"


@lru_cache(maxsize=16)
def _sender_domain(sender: str) -> str:
    # Parsing an address costs more than the rest of a message's headers: once per sender.
    try:
        # OPENSURE_MAIL_FROM may carry a display name: "Acme <feedback@acme.example>".
        return Address(addr_spec=parseaddr(sender)[1]).domain or "localhost"
    except (ValueError, IndexError):
        return "localhost"
