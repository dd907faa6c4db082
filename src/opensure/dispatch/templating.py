"""Survey email templates: the account's Jinja2 template (or the built-in default), run in a
sandbox so that it cannot reach Python objects, or turned into plain Python when it is simple.

Only text comes out of here; the MIME message is built in ``opensure.dispatch.render``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache

from jinja2 import Template, TemplateError, TemplateSyntaxError, Undefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape

from opensure.core.languages import DEFAULT
from opensure.core.translations import N_, translator

DEFAULT_SUBJECT = "{% if first_name %}{{ first_name }}, how{% else %}How{% endif %} did we do?"
# The one reminder's subject (docs/reminders.md); with an account's template, the reminder's
# subject is REMINDER_SUBJECT around the template's own (both translated: ``reminder_subject``).
DEFAULT_REMINDER_SUBJECT = N_("A reminder: how did we do?")
REMINDER_SUBJECT = N_("Reminder: %(subject)s")
REMINDER_SENTENCE = N_(
    "We wrote to you a few days ago. In case that e-mail got buried, here is the link once more."
)
DEFAULT_BODY = """\
{% if first_name %}Hi {{ first_name }},{% else %}Hello,{% endif %}

{% if reminder -%}
We wrote to you a few days ago. In case that e-mail got buried, here is the link once more.

{% endif -%}
Thank you for choosing {{ company }}{% if reference %} (your reference {{ reference }}){% endif %}.
We'd love to hear how it went. It takes about a minute:

{% if rating_scale %}{{ rating_scale }}

Or open the survey: {{ survey_link }}{% else %}{{ survey_link }}{% endif %}

Your answers go straight to the team that helped you.

Thanks,
{{ company }}

--
Don't want emails like this? Unsubscribe: {{ unsubscribe_link }}
"""


@lru_cache(maxsize=16)
def default_template(lang: str) -> tuple[str, str]:
    """The built-in default (subject, body) in a built-in language (SPEC §10), built once per
    language from the catalog's sentences. English is :data:`DEFAULT_SUBJECT` and
    :data:`DEFAULT_BODY` as written. Only placeholders and ifs, so it takes the fast path.

    The one-click rating scale is placed as in DEFAULT_BODY; its end words come from the same
    catalog (``core.ratings.end_words`` through ``translator(lang).gettext``).
    """
    if lang == DEFAULT:
        return DEFAULT_SUBJECT, DEFAULT_BODY
    _ = translator(lang).gettext

    def fill(text: str) -> str:
        # A placeholder of the sentence becomes the template's own; braces a translation
        # might hold are kept as text.
        text = text.replace("{", "{{ '{' }}")
        for name in PLACEHOLDERS:
            text = text.replace(f"%({name})s", "{{ " + name + " }}")
        return text

    subject = (
        "{% if first_name %}"
        + fill(_("%(first_name)s, how did we do?"))
        + "{% else %}"
        + fill(_("How did we do?"))
        + "{% endif %}"
    )
    body = (
        "{% if first_name %}"
        + fill(_("Hi %(first_name)s,"))
        + "{% else %}"
        + fill(_("Hello,"))
        + "{% endif %}\n\n{% if reminder %}"
        + fill(_(REMINDER_SENTENCE))
        + "\n\n{% endif %}{% if reference %}"
        + fill(_("Thank you for choosing %(company)s (your reference %(reference)s)."))
        + "{% else %}"
        + fill(_("Thank you for choosing %(company)s."))
        + "{% endif %}\n"
        + fill(_("We'd love to hear how it went. It takes about a minute:"))
        + "\n\n{% if rating_scale %}{{ rating_scale }}\n\n"
        + fill(_("Or open the survey: %(survey_link)s"))
        + "{% else %}{{ survey_link }}{% endif %}\n\n"
        + fill(_("Your answers go straight to the team that helped you."))
        + "\n\n"
        + fill(_("Thanks,"))
        + "\n{{ company }}\n\n--\n"
        + fill(_("Don't want emails like this? Unsubscribe: %(unsubscribe_link)s"))
        + "\n"
    )
    return subject, body


@lru_cache(maxsize=64)
def reminder_subject(template_subject: str | None, lang: str) -> str:
    """The reminder's subject template: the built-in one in ``lang``, or an account template's
    own subject inside the translated ``Reminder: …`` (docs/reminders.md)."""
    _ = translator(lang).gettext
    if not template_subject:
        return _(DEFAULT_REMINDER_SUBJECT).replace("{", "{{ '{' }}")
    return _(REMINDER_SUBJECT).replace("{", "{{ '{' }}").replace("%(subject)s", template_subject)


# Every placeholder a template may use, with what it holds (the console's editor lists these).
PLACEHOLDER_NOTES = {
    "first_name": "The customer's first name, if the request gave one (otherwise empty).",
    "surname": "The customer's surname, if the request gave one (otherwise empty).",
    "name": "First name and surname together, as far as they are known (otherwise empty).",
    "email": "The customer's e-mail address the survey is sent to.",
    "company": "Your account's name.",
    "reference": "The request's reference, e.g. your ticket number (otherwise empty).",
    "survey_link": "The link to this customer's survey; without it they cannot answer.",
    "unsubscribe_link": "The link where the customer stops all survey e-mails.",
    "rating_scale": (
        "When the survey's first question is a Rating: that question with its scale, each value"
        " a link that opens the survey with it chosen (one click). Place it on a line of its"
        " own. Empty for other surveys."
    ),
    "reminder": "Set (true in {% if reminder %}) in the one reminder e-mail, empty in the first.",
}
PLACEHOLDERS = tuple(PLACEHOLDER_NOTES)


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
        text = f"{place}: {self.problem}" if place else self.problem
        return " ".join(_CONTROL.sub(" ", text).split())


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
        **dict.fromkeys(
            ("first_name", "surname", "name", "reference", "rating_scale", "reminder"), ""
        ),
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


def render(source: str, html: bool, values: Mapping[str, str]) -> str:
    """``source`` rendered with ``values`` (HTML-escaped when ``html``); TemplateProblem if it
    cannot be."""
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
