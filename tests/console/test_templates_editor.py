"""The console's e-mail template editor (/app/templates): list, create, edit, preview, delete and
a test send, through the real app on SQLite and PostgreSQL; viewers and other accounts get
nothing, and every change is in the audit log."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from opensure.accounts import service as admin_service
from opensure.audit import service as audit
from opensure.dispatch.templating import PLACEHOLDERS
from tests.conftest import Account
from tests.console.conftest import csrf
from tests.dispatch.support import SmtpServer, free_port, parts
from tests.feedback_requests.helpers import insert_request

LIST = "/app/templates"
GOOD_BODY = "Hi {{ first_name }},\n\nTell {{ company }} how we did: {{ survey_link }}\n"
BAD_BODY = "Hello {{ first_name }},\n\nHow did we do?\n{% if reference %}Ref {{ reference }\n"


async def make_template(
    app: FastAPI, account: Account, *, name: str = "Support", body: str = GOOD_BODY
) -> int:
    async with app.state.engine.begin() as conn:
        made = await admin_service.create_template(
            conn, account.id, name=name, subject="How did we do, {{ first_name }}?", body=body
        )
    return int(made["id"])


async def stored(app: FastAPI, account: Account, template_id: int) -> dict[str, Any] | None:
    async with app.state.engine.connect() as conn:
        try:
            return await admin_service.show_template(conn, account.id, template_id)
        except admin_service.AdminError:
            return None


async def all_stored(app: FastAPI, account: Account) -> list[dict[str, Any]]:
    async with app.state.engine.connect() as conn:
        return await admin_service.list_templates(conn, account.id)


async def events(app: FastAPI, account: Account) -> list[dict[str, Any]]:
    async with app.state.engine.connect() as conn:
        return await audit.events(conn, account.id, subject_type="template")


async def post(client: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    token = await csrf(client, LIST)
    return await client.post(path, data={"csrf_token": token, **fields})


def listed(page: httpx.Response) -> dict[int, tuple[str, str]]:
    """Template id → (name, subject) as the list shows them."""
    rows = re.findall(
        r'<tr id="template-(\d+)">.*?<bdi>([^<]*)</bdi></a></td>\s*<td class="wrap"><bdi>([^<]*)<',
        page.text,
        re.S,
    )
    return {int(i): (html.unescape(n), html.unescape(s)) for i, n, s in rows}


class _Preview(HTMLParser):
    """The preview section's subject, text part and the HTML part's srcdoc."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, str] = {}
        self.iframe: dict[str, str | None] = {}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "iframe" and a.get("id") == "preview-html":
            self.iframe = a
        elif a.get("id") in ("preview-subject", "preview-text"):
            self._in = a["id"]
            self.found[self._in or ""] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("dd", "pre"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.found[self._in] += data


def preview_of(page: httpx.Response) -> tuple[str, str, dict[str, str | None]]:
    parser = _Preview()
    parser.feed(page.text)
    assert parser.iframe, "no HTML part in the preview"
    return parser.found["preview-subject"], parser.found["preview-text"], parser.iframe


def field_error(page: httpx.Response, name: str) -> str:
    found = re.search(rf'<ul class="field-error" id="e-{name}">(.*?)</ul>', page.text, re.S)
    assert found, f"no error beside {name}"
    return html.unescape(re.sub(r"<[^>]+>", " ", found[1]))


# ---- the list -----------------------------------------------------------------------------


async def test_the_list_shows_the_accounts_templates_only(
    app: FastAPI, account: Account, other_account: Account, admin: httpx.AsyncClient
) -> None:
    mine = await make_template(app, account, name="Support <b>desk</b>")
    theirs = await make_template(app, other_account, name="Sales")
    page = await admin.get(LIST)
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert listed(page) == {mine: ("Support <b>desk</b>", "How did we do, {{ first_name }}?")}
    assert theirs not in listed(page)
    assert "Support &lt;b&gt;desk&lt;/b&gt;" in page.text
    assert 'href="/app/templates/new">New template<' in page.text
    assert 'href="/app/templates" aria-current="page">Templates<' in page.text


async def test_an_account_without_templates_is_told_the_built_in_one_is_used(
    admin: httpx.AsyncClient,
) -> None:
    page = await admin.get(LIST)
    assert "No templates yet: every e-mail is sent in the built-in one." in page.text


# ---- create ---------------------------------------------------------------------------------


async def test_the_new_form_starts_from_the_built_in_email_and_lists_every_placeholder(
    admin: httpx.AsyncClient,
) -> None:
    page = await admin.get(f"{LIST}/new")
    assert page.status_code == 200
    for name in PLACEHOLDERS:
        assert f"<code>{{{{ {name} }}}}</code>" in page.text, name
    assert "Your account&#39;s name." in page.text
    subject, text, _ = preview_of(page)
    assert subject == "Kate, how did we do?"
    assert "Hi Kate," in text


async def test_create_a_template(app: FastAPI, account: Account, admin: httpx.AsyncClient) -> None:
    r = await post(
        admin, f"{LIST}/new", name="Support", subject="Hello {{ first_name }}", body=GOOD_BODY
    )
    assert r.status_code == 303
    (made,) = await all_stored(app, account)
    assert r.headers["location"] == f"{LIST}/{made['id']}?done=created"
    assert await stored(app, account, made["id"]) == {
        **made,
        "body": GOOD_BODY,
    }
    assert made["name"] == "Support" and made["subject"] == "Hello {{ first_name }}"
    page = await admin.get(r.headers["location"])
    assert "The template is saved." in page.text
    (event,) = await events(app, account)
    assert event["action"] == "template.created"
    assert event["subject_id"] == str(made["id"])
    assert event["before"] is None
    assert event["after"] == {
        "name": "Support",
        "subject": "Hello {{ first_name }}",
        "body": GOOD_BODY,
    }
    assert event["actor"] == admin.user["email"]  # type: ignore[attr-defined]


async def test_a_template_with_a_syntax_error_is_shown_with_its_line_and_not_saved(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    r = await post(admin, f"{LIST}/new", name="Broken", subject="Hi", body=BAD_BODY)
    assert r.status_code == 422
    assert "The template is not saved" in r.text
    assert field_error(r, "body").strip() == "Line 4: Unexpected '}'."
    assert 'aria-describedby="e-body body-hint" aria-invalid="true"' in r.text
    assert '<a href="#f-body">Body, line 4: Unexpected &#39;}&#39;.</a>' in r.text
    assert 'id="preview-problems"' in r.text and 'id="preview-html"' not in r.text
    # What was typed is kept.
    assert 'value="Broken"' in r.text
    assert html.escape(BAD_BODY, quote=False) in r.text
    assert await all_stored(app, account) == []
    assert await events(app, account) == []


async def test_empty_fields_are_shown_by_field(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    r = await post(admin, f"{LIST}/new", name=" ", subject="{{ first_name }", body="")
    assert r.status_code == 422
    assert field_error(r, "name").strip() == "A template needs a non-empty name."
    assert field_error(r, "body").strip() == "A template needs a non-empty body."
    assert 'value="{{ first_name }"' in r.text
    assert await all_stored(app, account) == []


async def test_a_subject_error_is_tied_to_the_subject(admin: httpx.AsyncClient) -> None:
    r = await post(admin, f"{LIST}/new", name="S", subject="{{ first_name | shout }}", body="b")
    assert r.status_code == 422
    assert field_error(r, "subject").strip() == "Line 1: No filter named 'shout'."


# ---- edit -----------------------------------------------------------------------------------


async def test_edit_a_template(app: FastAPI, account: Account, admin: httpx.AsyncClient) -> None:
    template_id = await make_template(app, account)
    page = await admin.get(f"{LIST}/{template_id}")
    assert page.status_code == 200
    assert html.escape(GOOD_BODY, quote=False) in page.text
    r = await post(
        admin, f"{LIST}/{template_id}", name="Renamed", subject="New subject", body="New body\n"
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"{LIST}/{template_id}?done=updated"
    now = await stored(app, account, template_id)
    assert now is not None
    assert (now["name"], now["subject"], now["body"]) == ("Renamed", "New subject", "New body\n")
    (event,) = await events(app, account)
    assert event["action"] == "template.updated"
    assert event["before"] == {
        "name": "Support",
        "subject": "How did we do, {{ first_name }}?",
        "body": GOOD_BODY,
    }
    assert event["after"] == {"name": "Renamed", "subject": "New subject", "body": "New body\n"}


async def test_an_edit_with_an_error_keeps_the_saved_template(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    template_id = await make_template(app, account)
    r = await post(admin, f"{LIST}/{template_id}", name="Support", subject="Hi", body=BAD_BODY)
    assert r.status_code == 422
    assert field_error(r, "body").strip() == "Line 4: Unexpected '}'."
    assert f'action="/app/templates/{template_id}"' in r.text
    now = await stored(app, account, template_id)
    assert now is not None and now["body"] == GOOD_BODY
    assert await events(app, account) == []


async def test_line_breaks_typed_in_a_browser_are_saved_as_newlines(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    template_id = await make_template(app, account)
    r = await post(admin, f"{LIST}/{template_id}", name="S", subject="S", body="a\r\n\r\nb\r\n")
    assert r.status_code == 303
    now = await stored(app, account, template_id)
    assert now is not None and now["body"] == "a\n\nb\n"


# ---- preview --------------------------------------------------------------------------------


async def test_the_preview_renders_text_and_html_with_sample_values_escaped(
    account: Account, admin: httpx.AsyncClient
) -> None:
    body = (
        "Dear {{ name }} ({{ email }}), ref {{ reference }}.\n\n"
        "{{ survey_link }}\n\n<script>alert(1)</script>\n"
    )
    r = await post(
        admin, f"{LIST}/preview", subject="For {{ first_name }} {{ surname }}", body=body
    )
    assert r.status_code == 200
    subject, text, iframe = preview_of(r)
    assert subject == "For Kate O'Neill"
    assert "Dear Kate O'Neill (kate.oneill@example.com), ref TICKET-1042." in text
    assert "http://testserver/s/sample?t=sample-link-token" in text
    # The HTML part escapes the customer's values and is shown sandboxed, scripts and all inert.
    assert "sandbox" in iframe and iframe["sandbox"] in ("", None)
    srcdoc = iframe["srcdoc"] or ""
    assert "Dear Kate O&#39;Neill" in srcdoc
    assert '<a href="http://testserver/s/sample?t=sample-link-token">' in srcdoc
    # The template's own markup only ever reaches the page inside the srcdoc attribute.
    assert "<script>alert(1)</script>" in srcdoc
    assert r.text.count("<script") == 1  # the console's own script tag
    # Without JS the editor comes back with the typed text kept and the preview below.
    assert "Save template" in r.text and 'action="/app/templates/new"' in r.text


async def test_the_preview_fragment_for_the_editors_script(admin: httpx.AsyncClient) -> None:
    r = await post(admin, f"{LIST}/preview", subject="Hi", body="{{ company }}", fragment="1")
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<section class="card mail-preview" id="preview"')
    assert "<html" not in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]


async def test_problems_show_in_the_preview_instead_of_a_preview(admin: httpx.AsyncClient) -> None:
    r = await post(admin, f"{LIST}/preview", subject="Hi", body=BAD_BODY, fragment="1")
    assert r.status_code == 200
    assert "This template cannot be rendered" in r.text
    assert "Body, line 4: unexpected &#39;}&#39;" in r.text
    assert 'id="preview-html"' not in r.text


async def test_the_preview_of_a_template_of_another_account_is_not_found(
    app: FastAPI, other_account: Account, admin: httpx.AsyncClient
) -> None:
    theirs = await make_template(app, other_account)
    r = await post(admin, f"{LIST}/preview", template_id=str(theirs), subject="x", body="y")
    assert r.status_code == 404


# ---- delete ---------------------------------------------------------------------------------


async def test_delete_a_template(app: FastAPI, account: Account, admin: httpx.AsyncClient) -> None:
    template_id = await make_template(app, account)
    r = await post(admin, f"{LIST}/{template_id}/delete")
    assert r.status_code == 303
    assert r.headers["location"] == f"{LIST}?done=deleted"
    assert await stored(app, account, template_id) is None
    page = await admin.get(r.headers["location"])
    assert "The template is deleted." in page.text
    (event,) = await events(app, account)
    assert event["action"] == "template.deleted"
    assert event["before"]["name"] == "Support" and event["after"] is None


async def test_a_template_pending_requests_use_is_not_deleted(
    app: FastAPI, account: Account, admin: httpx.AsyncClient
) -> None:
    template_id = await make_template(app, account)
    await insert_request(app, account, email_template_id=template_id)
    r = await post(admin, f"{LIST}/{template_id}/delete")
    assert r.status_code == 409
    assert f"Template {template_id} is used by 1 pending feedback request" in r.text
    assert await stored(app, account, template_id) is not None
    assert await events(app, account) == []


# ---- roles and accounts ---------------------------------------------------------------------


async def test_a_viewer_may_neither_read_nor_change_templates(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, viewer: httpx.AsyncClient
) -> None:
    template_id = await make_template(app, account)
    for path in (LIST, f"{LIST}/new", f"{LIST}/{template_id}"):
        r = await viewer.get(path)
        assert r.status_code == 403, path
        assert GOOD_BODY.splitlines()[0] not in r.text
    token = await csrf(viewer, "/app/account")
    for path, data in (
        (f"{LIST}/new", {"name": "V", "subject": "V", "body": "V"}),
        (f"{LIST}/{template_id}", {"name": "V", "subject": "V", "body": "V"}),
        (f"{LIST}/{template_id}/delete", {}),
        (f"{LIST}/{template_id}/test", {}),
        (f"{LIST}/preview", {"subject": "V", "body": "V"}),
    ):
        r = await viewer.post(path, data={"csrf_token": token, **data})
        assert r.status_code == 403, path
        assert "(viewer) lets you read and export, not change" in r.text
    assert [t["name"] for t in await all_stored(app, account)] == ["Support"]
    assert await events(app, account) == []
    # A viewer has no Templates link.
    assert 'href="/app/templates"' not in (await viewer.get("/app/account")).text


async def test_another_accounts_template_is_not_found(
    app: FastAPI, other_account: Account, admin: httpx.AsyncClient
) -> None:
    theirs = await make_template(app, other_account)
    assert (await admin.get(f"{LIST}/{theirs}")).status_code == 404
    assert (await admin.get(f"{LIST}/not-a-number")).status_code == 404
    for path in (f"{LIST}/{theirs}", f"{LIST}/{theirs}/delete", f"{LIST}/{theirs}/test"):
        r = await post(admin, path, name="Mine now", subject="x", body="y")
        assert r.status_code == 404, path
        assert "There is nothing here in this account." in r.text
    now = await stored(app, other_account, theirs)
    assert now is not None and now["name"] == "Support"
    assert await events(app, other_account) == []


# ---- a test send ----------------------------------------------------------------------------


@pytest.fixture
def smtp(app: FastAPI) -> Iterator[SmtpServer]:
    """A real aiosmtpd server, and the app's mail setting pointing at it for this test."""
    server = SmtpServer()
    server.start()
    settings = app.state.settings
    before = settings.mail_url
    settings.mail_url = server.url
    try:
        yield server
    finally:
        settings.mail_url = before
        server.stop()


async def test_a_test_send_arrives_at_the_signed_in_users_address(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    template_id = await make_template(app, account)
    me = admin.user["email"]  # type: ignore[attr-defined]
    # Only the user's own address is used: an address in the form is ignored.
    r = await post(admin, f"{LIST}/{template_id}/test", to="someone@else.example")
    assert r.status_code == 303
    page = await admin.get(r.headers["location"])
    assert f"Sent a test to {me}." in page.text
    assert [m.recipients for m in smtp.accepted] == [[me]]
    message = smtp.one_to(me)
    assert message["Subject"] == "[Test] How did we do, Kate?"
    assert message["To"].addresses[0].addr_spec == me
    assert message["To"].addresses[0].display_name == ""
    text, html_part = parts(message)
    assert f"Tell {account.name} how we did: http://testserver/s/sample?t=sample-link-token" in (
        text
    )
    assert "Hi Kate," in html_part
    (event,) = await events(app, account)
    assert event["action"] == "template.test_sent"
    assert event["subject"] == f"Template {template_id} (Support)"


async def test_a_refused_test_send_is_reported_readably(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, smtp: SmtpServer
) -> None:
    template_id = await make_template(app, account)
    me = admin.user["email"]  # type: ignore[attr-defined]
    smtp.reply_rcpt(me, "550 5.1.1 No such mailbox here")
    r = await post(admin, f"{LIST}/{template_id}/test")
    assert r.status_code == 502
    assert (
        '<p class="error" role="alert" id="failure">'
        "The mail server refused the test e-mail: 550 5.1.1 No such mailbox here.</p>"
    ) in r.text
    assert "Traceback" not in r.text
    assert smtp.accepted == []
    assert await events(app, account) == []


async def test_an_unreachable_mail_server_is_reported_readably(
    app: FastAPI, account: Account, admin: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    template_id = await make_template(app, account)
    # Nothing listens on this port.
    monkeypatch.setattr(app.state.settings, "mail_url", f"smtp://127.0.0.1:{free_port()}")
    r = await post(admin, f"{LIST}/{template_id}/test")
    assert r.status_code == 502
    text = html.unescape(r.text)
    assert "The test e-mail could not be sent now: cannot connect to the SMTP server" in text
    assert "Traceback" not in r.text
    assert await events(app, account) == []
