"""opensure.core.linkback: a reference links to its ticket only through an http(s) URL."""

from __future__ import annotations

import pytest

from opensure.core.linkback import link_back, template_problem

DESK = "https://desk.example.com/tickets/{machine_id}"


def test_the_values_are_put_in_percent_encoded() -> None:
    assert (
        link_back(DESK, reference=None, machine_id="m-42")
        == "https://desk.example.com/tickets/m-42"
    )
    assert (
        link_back(
            "http://crm.example/find?ref={reference}&x=1", reference="A/B ?#&=ü", machine_id=None
        )
        == "http://crm.example/find?ref=A%2FB%20%3F%23%26%3D%C3%BC&x=1"
    )
    both = "https://x.example/{reference}/{machine_id}/{reference}"
    assert link_back(both, reference="r", machine_id="m") == "https://x.example/r/m/r"


def test_without_a_template_or_a_needed_value_there_is_no_link() -> None:
    assert link_back(None, reference="T-1", machine_id="m") is None
    assert link_back("", reference="T-1", machine_id="m") is None
    assert link_back(DESK, reference="T-1", machine_id=None) is None
    assert link_back(DESK, reference="T-1", machine_id="") is None
    assert link_back("https://x.example/static", reference="T-1", machine_id="m") is None


@pytest.mark.parametrize(
    ("template", "machine_id"),
    [
        ("javascript:alert(1)//{machine_id}", "m"),
        ("JavaScript:alert({machine_id})", "1"),
        (" javascript:alert(1)//{machine_id}", "m"),
        ("data:text/html,<script>alert(1)</script>{machine_id}", "m"),
        ("{machine_id}", "javascript:alert(1)"),
        ("{machine_id}", "https://evil.example/"),
        ("//evil.example/{machine_id}", "m"),
        ("https:///{machine_id}", "m"),
        ("https://desk.example/{machine_id} x", "m"),
        ("https://desk.example/\t{machine_id}", "m"),
        ("java\nscript:alert(1)/{machine_id}", "m"),
        ("https://desk.example/{0.__class__}/{machine_id}", "m"),
    ],
)
def test_nothing_but_a_web_address_becomes_a_link(template: str, machine_id: str) -> None:
    url = link_back(template, reference="r", machine_id=machine_id)
    assert url is None or url.startswith("https://desk.example/")
    assert url is None or "{0.__class__}" in url  # not format()ed: just text


def test_a_value_cannot_change_the_host_or_the_scheme() -> None:
    url = link_back(
        "https://desk.example.com/{machine_id}", reference=None, machine_id="@evil.example"
    )
    assert url == "https://desk.example.com/%40evil.example"
    url = link_back("{reference}", reference="javascript:alert(1)", machine_id=None)
    assert url is None


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        (DESK, False),
        ("http://desk.example/?r={reference}", False),
        ("https://desk.example/tickets", True),
        ("javascript:alert('{reference}')", True),
        ("desk.example/{reference}", True),
        ("https://desk.example/{reference} ", True),
    ],
)
def test_a_template_is_checked_before_it_is_saved(template: str, problem: bool) -> None:
    assert (template_problem(template) is not None) is problem
