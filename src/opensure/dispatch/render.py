"""Survey emails: the account's template or the built-in default, in plain text and HTML.

Templates are Jinja2 run in a sandbox, so an account's template cannot reach Python objects.
Customer-supplied values are escaped in the HTML part, and header values (subject, names)
are folded to one line so that a CR/LF in a name cannot add a header.
"""

from __future__ import annotations

import quopri
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from jinja2 import Template, TemplateError, TemplateSyntaxError, Undefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape

DEFAULT_SUBJECT = "{% if first_name %}{{ first_name }}, how{% else %}How{% endif %} did we do?"
DEFAULT_BODY = """\
{% if first_name %}Hi {{ first_name }},{% else %}Hello,{% endif %}

Thank you for choosing {{ company }}{% if reference %} (your reference {{ reference }}){% endif %}.
We'd love to hear how it went. It takes about a minute:

{{ survey_link }}

Your answers go straight to the team that helped you.

Thanks,
{{ company }}

--
Don't want emails like this? Unsubscribe: {{ unsubscribe_link }}
"""

PLACEHOLDERS = (
    "first_name",
    "surname",
    "name",
    "email",
    "company",
    "reference",
    "survey_link",
    "unsubscribe_link",
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_URL = re.compile(r"https?://[^\s<>\"']+")


class TemplateProblem(Exception):
    """The account's template cannot be rendered; the message says why.

    ``problem`` is Jinja's own words, ``line`` the template line it points at (when known) and
    ``part`` which part of the template it is in (``subject`` or ``body``, when known).
    """

    def __init__(self, problem: str, *, part: str | None = None, line: int | None = None) -> None:
        super().__init__(f"email template error: {problem}")
        self.problem = problem
        self.part = part
        self.line = line

    def where(self) -> str:
        """``body line 3: unexpected '}'``: the part, the line and the problem, on one line."""
        place = " ".join(
            p for p in (self.part, f"line {self.line}" if self.line else None) if p is not None
        )
        return one_line(f"{place}: {self.problem}" if place else self.problem)


_text_env = ImmutableSandboxedEnvironment(autoescape=False, undefined=Undefined)
_html_env = ImmutableSandboxedEnvironment(autoescape=True, undefined=Undefined)


@lru_cache(maxsize=512)
def _compile(source: str, html: bool) -> Template:
    env = _html_env if html else _text_env
    try:
        return env.from_string(source)
    except TemplateSyntaxError as exc:  # unknown filters and tests included
        raise TemplateProblem(exc.message or str(exc), line=exc.lineno) from exc
    except TemplateError as exc:
        raise TemplateProblem(str(exc)) from exc


# What a trial render fills the placeholders with: once all given, once the optional ones empty.
_SAMPLES = (
    {name: f"sample {name}" for name in PLACEHOLDERS},
    {
        **{name: f"sample {name}" for name in PLACEHOLDERS},
        **dict.fromkeys(("first_name", "surname", "name", "reference"), ""),
    },
)


def _template_line(exc: BaseException) -> int | None:
    """The template line a render error was raised on (Jinja maps its frames to the template)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def template_problems(subject: str, body: str) -> list[TemplateProblem]:
    """Everything that stops a template from rendering, one problem per part at most.

    Each part is compiled in the sandbox the dispatcher uses (syntax errors, unknown filters and
    tests), then rendered with sample values (what only fails at render time: ``{% include %}``,
    calls of unknown names, what the sandbox refuses). The check made when a template is saved.
    """
    problems: list[TemplateProblem] = []
    for part, source, modes in (("subject", subject, (False,)), ("body", body, (False, True))):
        try:
            for html in modes:
                template = _compile(source, html)
                for values in _SAMPLES:
                    try:
                        template.render(**values)
                    except Exception as exc:  # anything a render raises is a problem
                        raise TemplateProblem(
                            getattr(exc, "message", None) or str(exc) or type(exc).__name__,
                            line=_template_line(exc),
                        ) from exc
        except TemplateProblem as exc:
            exc.part = part
            problems.append(exc)
    return problems


def check_template(subject: str, body: str) -> None:
    """Raise the first TemplateProblem of :func:`template_problems`, if any."""
    problems = template_problems(subject, body)
    if problems:
        raise problems[0]


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


def _render(source: str, html: bool, values: dict[str, str]) -> str:
    fast = _fast_template(source, html)
    if fast is not None:
        return fast(values)
    template = _compile(source, html)
    try:
        return template.render(**values)
    except TemplateError as exc:
        raise TemplateProblem(str(exc), line=_template_line(exc)) from exc


# ---- a fast path for simple templates ----
#
# Jinja's per-render overhead (a new context, a generator, the concatenation) is most of the
# cost of rendering a short email, three times a message. Most templates — the default one
# included — are only text, placeholders and ``{% if placeholder %}`` blocks: those are turned
# into plain Python once, and render to exactly what Jinja renders (tests/dispatch/
# test_render.py compares the two). Anything else (filters, attributes, loops, globals, …)
# goes through the sandboxed Jinja environment as before.

_Piece = Callable[[Mapping[str, str], list[str]], None]


class _NotSimple(Exception):
    pass


def _literal(text: str) -> _Piece:
    return lambda values, out: out.append(text)


def _placeholder(name: str, html: bool) -> _Piece:
    if html:
        return lambda values, out: out.append(str(escape(values[name])))
    return lambda values, out: out.append(values[name])


def _test(node: nodes.Node) -> Callable[[Mapping[str, str]], bool]:
    """A test on placeholders: ``name``, ``not name``, ``a and b``, ``a or b``."""
    if isinstance(node, nodes.Name) and node.ctx == "load" and node.name in PLACEHOLDERS:
        name = node.name
        return lambda values: bool(values[name])
    if isinstance(node, nodes.Not):
        inner = _test(node.node)
        return lambda values: not inner(values)
    if isinstance(node, nodes.And | nodes.Or):
        left, right = _test(node.left), _test(node.right)
        if isinstance(node, nodes.And):
            return lambda values: left(values) and right(values)
        return lambda values: left(values) or right(values)
    raise _NotSimple


def _pieces(body: list[nodes.Node], html: bool) -> list[_Piece]:
    out: list[_Piece] = []
    for node in body:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    out.append(_literal(child.data))
                elif (
                    isinstance(child, nodes.Name)
                    and child.ctx == "load"
                    and child.name in PLACEHOLDERS
                ):
                    out.append(_placeholder(child.name, html))
                else:
                    raise _NotSimple
        elif isinstance(node, nodes.If):
            branches = [(_test(node.test), _pieces(node.body, html))]
            for elif_ in node.elif_:
                branches.append((_test(elif_.test), _pieces(elif_.body, html)))
            otherwise = _pieces(node.else_, html)
            out.append(_branch(branches, otherwise))
        else:
            raise _NotSimple
    return out


def _branch(
    branches: list[tuple[Callable[[Mapping[str, str]], bool], list[_Piece]]],
    otherwise: list[_Piece],
) -> _Piece:
    def run(values: Mapping[str, str], out: list[str]) -> None:
        chosen = otherwise
        for test, body in branches:
            if test(values):
                chosen = body
                break
        for piece in chosen:
            piece(values, out)

    return run


@lru_cache(maxsize=512)
def _fast_template(source: str, html: bool) -> Callable[[Mapping[str, str]], str] | None:
    """The template as plain Python if it only uses placeholders and ifs, else None."""
    env = _html_env if html else _text_env
    try:
        pieces = _pieces(env.parse(source).body, html)
    except (TemplateError, _NotSimple):
        return None

    def render(values: Mapping[str, str]) -> str:
        out: list[str] = []
        for piece in pieces:
            piece(values, out)
        return "".join(out)

    return render


def _html_document(rendered_body: str) -> str:
    """Paragraphs and clickable links from the escaped text body."""
    paragraphs = [p for p in re.split(r"\n\s*\n", rendered_body.strip()) if p.strip()]
    parts = []
    for paragraph in paragraphs:
        linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', paragraph)
        parts.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>\n'
        '<body style="font-family: -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif;'
        " font-size: 16px; line-height: 1.5; color: #1f2937; max-width: 36em; margin: 0 auto;"
        ' padding: 1em;">\n' + "\n".join(parts) + "\n</body></html>\n"
    )


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
        boundary = "=_opensure_" + secrets.token_hex(12)
        lines = [f"{name}: {_encode_header(name, value)}" for name, value in self.headers]
        lines += [
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
            "",
            f"--{boundary}",
            'Content-Type: text/plain; charset="utf-8"',
            "Content-Transfer-Encoding: quoted-printable",
            "",
            _qp(self.text),
            f"--{boundary}",
            'Content-Type: text/html; charset="utf-8"',
            "Content-Transfer-Encoding: quoted-printable",
            "",
            _qp(self.html),
            f"--{boundary}--",
            "",
        ]
        # ASCII except a non-ASCII mailbox, which is only sent over SMTPUTF8 (RFC 6532).
        return "\r\n".join(lines).encode("utf-8")


def _qp(text: str) -> str:
    encoded = quopri.encodestring(text.replace("\r\n", "\n").encode("utf-8"))
    return encoded.decode("ascii").replace("\n", "\r\n")


def _encode_header(name: str, value: str) -> str:
    if name in ("To", "From") and not value.isascii():
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
    content: EmailContent, *, sender: str, subject_template: str | None, body_template: str | None
) -> RenderedEmail:
    subject_source = subject_template or DEFAULT_SUBJECT
    body_source = body_template or DEFAULT_BODY
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
    }
    subject = one_line(_render(subject_source, False, values)) or "How did we do?"
    text = _render(body_source, False, values)
    # Autoescaping escapes every value, the customer's included; links are then made clickable.
    html = _html_document(_render(body_source, True, values))
    to_name = one_line(content.to_name or "")
    headers = (
        ("Subject", subject),
        ("From", one_line(sender)),
        ("To", _address(to_name, content.to)),
        ("Date", _date()),
        ("Message-ID", content.message_id),
        ("List-Unsubscribe", f"<{content.unsubscribe_link}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Auto-Submitted", "auto-generated"),
    )
    return RenderedEmail(headers, text, html)


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


def message_id(request_id: int, token: str, sender: str) -> str:
    """Stable per request, so a resend after a crash can be recognised downstream."""
    return f"<feedback-request-{request_id}.{token[:12]}@{_sender_domain(sender)}>"


@lru_cache(maxsize=16)
def _sender_domain(sender: str) -> str:
    # Parsing an address costs more than the rest of a message's headers: once per sender.
    try:
        # OPENSURE_MAIL_FROM may carry a display name: "Acme <feedback@acme.example>".
        return Address(addr_spec=parseaddr(sender)[1]).domain or "localhost"
    except (ValueError, IndexError):
        return "localhost"
