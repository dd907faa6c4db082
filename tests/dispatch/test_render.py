"""The dispatcher's fast rendering paths give exactly what the slow, general ones give."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from opensure.dispatch import render, templating, verp

VALUES = [
    "",
    "Kate",
    "O'Brien & <Sons>",
    '"quoted" \\ back',
    "Zoë Łukasiewicz",
    "{{ first_name }}",
    "http://example.com/s/x?t=a&b=<c>",
    "line\nbreak",
]

SIMPLE_TEMPLATES = [
    templating.DEFAULT_SUBJECT,
    templating.DEFAULT_BODY,
    "Quick question for {{ first_name }}",
    "Dear {{ first_name }},\n\nPlease rate us: {{ survey_link }}\n\n"
    "Opt out: {{ unsubscribe_link }}\n",
    "{% if first_name and surname %}{{ name }}{% elif first_name %}{{ first_name }}"
    "{% elif not email %}nobody{% else %}you{% endif %} at {{ company }}",
    "{% if reference or company %}[{{ reference }}|{{ company }}]{% endif %}\n\n\n",
    "{%- if first_name -%}\n  Hi {{ first_name }}  \n{%- endif %}\n{# a comment #}{{ email }}",
    "{% raw %}{{ not a placeholder }}{% endraw %} {{ surname }}",
    "<b>{{ first_name }}</b> & {{ company }}",
    "",
    "no placeholders at all\n",
]

NOT_SIMPLE = [
    "{{ first_name|upper }}",
    "{{ first_name ~ '!' }}",
    "{{ range }}",
    "{{ unknown }}",
    "{% if first_name == 'Kate' %}K{% endif %}",
    "{% for c in first_name %}{{ c }}{% endfor %}",
    "{% set first_name = 'x' %}{{ first_name }}",
    "{{ ''.__class__ }}",
    "{{ 'literal' }}",
]


def _values(rng: random.Random) -> dict[str, str]:
    return {name: rng.choice(VALUES) for name in templating.PLACEHOLDERS}


def _jinja(source: str, html: bool, values: dict[str, str]) -> str:
    return templating._compile(source, html).render(**values)  # type: ignore[attr-defined, no-any-return]


@pytest.mark.parametrize("source", SIMPLE_TEMPLATES)
@pytest.mark.parametrize("html", [False, True])
def test_simple_templates_render_exactly_as_jinja(source: str, html: bool) -> None:
    fast = templating._fast_template(source, html)
    assert fast is not None
    rng = random.Random(source)
    for _ in range(200):
        values = _values(rng)
        assert fast(values) == _jinja(source, html, values)


@pytest.mark.parametrize("source", NOT_SIMPLE)
def test_other_templates_go_through_jinja(source: str) -> None:
    assert templating._fast_template(source, False) is None
    assert templating._fast_template(source, True) is None


def test_date_header_is_formatdate_of_now() -> None:
    before = formatdate(localtime=False, usegmt=True)
    got = render._date()
    after = formatdate(localtime=False, usegmt=True)
    assert got in (before, after)


def test_message_id_takes_the_domain_of_the_sender() -> None:
    tag = verp.tag("abcdefghijklmnop")
    assert render.message_id(7, "abcdefghijklmnop", "Acme <feedback@acme.example>") == (
        f"<feedback-request-7.{tag}@acme.example>"
    )
    assert render.message_id(7, "abc", "not an address") == (
        f"<feedback-request-7.{verp.tag('abc')}@localhost>"
    )


def test_the_default_template_has_no_problems() -> None:
    assert render.template_problems(render.DEFAULT_SUBJECT, render.DEFAULT_BODY) == []


def test_a_template_problem_names_part_line_and_problem() -> None:
    problems = render.template_problems("Hi {{ first_name }", "One\nTwo\n{{ first_name|shout }}")
    assert [(p.part, p.line, p.where()) for p in problems] == [
        ("subject", 1, "subject line 1: unexpected '}'"),
        ("body", 3, "body line 3: No filter named 'shout'."),
    ]
    # What the dispatcher records as a request's not_sent_reason stays as it was.
    assert str(problems[1]) == "email template error: No filter named 'shout'."
    with pytest.raises(render.TemplateProblem) as raised:
        render.check_template("Hi", "{{ nothing() }}")
    assert raised.value.where() == "body line 1: 'nothing' is undefined"
