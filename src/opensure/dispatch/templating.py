"""Survey email templates: the account's Jinja2 template (or the built-in default), run in a
sandbox so that it cannot reach Python objects, or turned into plain Python when it is simple.

Only text comes out of here; the MIME message is built in ``opensure.dispatch.render``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache

from jinja2 import TemplateError, Undefined, nodes
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


class TemplateProblem(Exception):
    """The account's template cannot be rendered; the message says why."""


_text_env = ImmutableSandboxedEnvironment(autoescape=False, undefined=Undefined)
_html_env = ImmutableSandboxedEnvironment(autoescape=True, undefined=Undefined)


@lru_cache(maxsize=512)
def _compile(source: str, html: bool) -> object:
    env = _html_env if html else _text_env
    try:
        return env.from_string(source)
    except TemplateError as exc:
        raise TemplateProblem(f"email template error: {exc}") from exc


def check_template(subject: str, body: str) -> None:
    """Raise TemplateProblem if either part does not compile (used when a template is saved)."""
    _compile(subject, False)
    _compile(body, False)
    _compile(body, True)


def render(source: str, html: bool, values: Mapping[str, str]) -> str:
    """``source`` rendered with ``values`` (HTML-escaped when ``html``); TemplateProblem if it
    cannot be."""
    fast = _fast_template(source, html)
    if fast is not None:
        return fast(values)
    template = _compile(source, html)
    try:
        return template.render(**values)  # type: ignore[attr-defined, no-any-return]
    except TemplateError as exc:
        raise TemplateProblem(f"email template error: {exc}") from exc


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
