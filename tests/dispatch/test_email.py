"""What a survey email looks like: addressing, parts, links, headers, templates, escaping."""

from __future__ import annotations

import datetime as dt
import re
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from fastapi import FastAPI

from opensure.accounts import repository as accounts_repo
from opensure.accounts import service as admin
from tests.conftest import BASE, Account
from tests.dispatch.support import (
    SmtpServer,
    address,
    create_request,
    dispatch,
    fetch_request,
    links,
    now_iso,
    parts,
    survey_link,
)

HEADER_END = re.compile(rb"\r?\n\r?\n")


def header_block(raw: bytes) -> bytes:
    return HEADER_END.split(raw, maxsplit=1)[0]


async def test_due_request_becomes_one_complete_email(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    to = address()
    created = await create_request(
        account,
        email=to,
        first_name="Kate",
        surname="Smith",
        reference="#6764",
        query_params=[
            {"key": "utm_source", "value": "email"},
            {"key": "lang", "value": "en gb"},
        ],
    )
    await dispatch(app, smtp.url)

    got = smtp.to(to)
    assert len(got) == 1
    assert got[0].recipients == [to]
    message = got[0].message
    assert message["To"].addresses[0].addr_spec == to
    assert len(message["To"].addresses) == 1
    assert message["From"].addresses[0].addr_spec == "feedback@opensure.test"
    assert message["Subject"].strip()
    assert "Kate" in message["Subject"]
    text, html = parts(message)
    assert "Kate" in text

    # Survey link: PUBLIC_URL/s/{code}?t={token}&<query_params>, the same in both parts.
    link = survey_link(message)
    split = urlsplit(link)
    assert f"{split.scheme}://{split.netloc}" == BASE
    assert split.path == f"/s/{account.survey['code']}"
    query = parse_qsl(split.query)
    assert query[0][0] == "t"
    token = query[0][1]
    assert len(token) >= 16
    assert query[1:] == [("utm_source", "email"), ("lang", "en gb")]
    assert f'href="{link.replace("&", "&amp;")}"' in html

    # Unsubscribe: a link in the body and the RFC 8058 headers.
    unsubscribe = [u for u in links(text) if urlsplit(u).path.startswith("/u/")]
    assert len(unsubscribe) == 1
    assert unsubscribe[0].startswith(f"{BASE}/u/")
    assert message["List-Unsubscribe"] == f"<{unsubscribe[0]}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe[0] in html

    # Message-ID: a valid msg-id, unique to this request.
    message_id = message["Message-ID"]
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", message_id)

    after = await fetch_request(account, created["id"])
    assert after["state"] == "sent"
    assert after["sent_at"] is not None
    assert after["delivery_failure"] is None
    assert after["not_sent_reason"] is None

    # Dispatching again sends nothing more.
    await dispatch(app, smtp.url)
    assert len(smtp.to(to)) == 1


async def test_message_ids_differ_between_requests_and_links_are_unguessable(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    first, second = address(), address()
    await create_request(account, email=first)
    await create_request(account, email=second)
    await dispatch(app, smtp.url)
    a, b = smtp.one_to(first), smtp.one_to(second)
    assert a["Message-ID"] != b["Message-ID"]
    assert survey_link(a) != survey_link(b)
    assert a["List-Unsubscribe"] != b["List-Unsubscribe"]


async def test_future_request_is_not_sent_yet(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    later = address()
    created = await create_request(account, email=later, send_at=now_iso(hours=1))
    await dispatch(app, smtp.url)
    assert smtp.to(later) == []
    assert (await fetch_request(account, created["id"]))["state"] == "pending"


async def test_crlf_in_a_name_cannot_add_headers_or_recipients(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    to = address()
    created = await create_request(
        account,
        email=to,
        first_name="Kate\r\nBcc: evil@example.com",
        surname="Smith\nX-Injected: yes",
    )
    await dispatch(app, smtp.url)

    assert not any("evil" in r.lower() for r in smtp.rcpt_seen)
    got = smtp.to(to)
    assert len(got) == 1
    assert got[0].recipients == [to]
    message = got[0].message
    assert message["Bcc"] is None
    assert message["X-Injected"] is None
    headers = header_block(got[0].raw)
    assert not re.search(rb"(?im)^(bcc|x-injected):", headers)
    for name, value in message.items():
        assert "\r" not in str(value) and "\n" not in str(value), name
    assert [a.addr_spec for a in message["To"].addresses] == [to]
    assert (await fetch_request(account, created["id"]))["state"] == "sent"


async def test_customer_values_are_escaped_in_the_html_part(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    to = address()
    await create_request(
        account,
        email=to,
        first_name="<script>alert(1)</script>",
        reference='"><img src=x onerror=alert(2)>',
    )
    await dispatch(app, smtp.url)
    text, html = parts(smtp.one_to(to))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html
    # The plain-text part shows the name as it was given.
    assert "<script>alert(1)</script>" in text


async def _template(app: FastAPI, account: Account, subject: str, body: str) -> int:
    async with app.state.engine.begin() as conn:
        created = await admin.create_template(
            conn, account.id, name="Custom", subject=subject, body=body
        )
    return int(created["id"])


async def _stored_template(app: FastAPI, account: Account, subject: str, body: str) -> int:
    """A template stored as it is, unchecked: one saved before templates were checked."""
    async with app.state.engine.begin() as conn:
        return await accounts_repo.insert_template(
            conn,
            account_id=account.id,
            name="Custom",
            subject=subject,
            body=body,
            now=dt.datetime.now(dt.UTC),
        )


async def test_account_template_is_used_when_named(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    template_id = await _template(
        app,
        account,
        "Quick question for {{ first_name }}",
        "Dear {{ first_name }},\n\nPlease rate us: {{ survey_link }}\n\n"
        "Opt out: {{ unsubscribe_link }}\n",
    )
    with_template, without = address(), address()
    await create_request(
        account,
        email=with_template,
        first_name="Kate",
        email_template_id=template_id,
        query_params=[{"key": "src", "value": "tpl"}],
    )
    await create_request(account, email=without, first_name="Kate")
    await dispatch(app, smtp.url)

    message = smtp.one_to(with_template)
    assert message["Subject"] == "Quick question for Kate"
    text, html = parts(message)
    assert text.startswith("Dear Kate,")
    link = survey_link(message)
    assert link.startswith(f"{BASE}/s/{account.survey['code']}?t=")
    assert link.endswith("&src=tpl")
    assert f"Please rate us: {link}" in text
    unsubscribe = message["List-Unsubscribe"].strip("<>")
    assert f"Opt out: {unsubscribe}" in text
    assert "Dear Kate," in html
    assert 'href="' + link.replace("&", "&amp;") + '"' in html

    default = smtp.one_to(without)
    assert default["Subject"] != "Quick question for Kate"
    assert "Please rate us" not in parts(default)[0]


SANDBOX_ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ lipsum.__globals__['os'].popen('touch MARKER').read() }}",
    "{{ self.__init__.__globals__ }}",
    "{{ '{0.__class__.__mro__}'.format(first_name) }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
]


async def test_template_sandbox_escapes_do_not_run(
    app: FastAPI, account: Account, smtp: SmtpServer, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    evil = []
    for n, payload in enumerate(SANDBOX_ESCAPES):
        body = "Hello {{ first_name }}\n" + payload.replace("MARKER", str(marker))
        # Saving refuses these now (accounts.service); older databases may still hold them.
        template_id = await _stored_template(
            app, account, f"Hi {n}", body + "\n{{ survey_link }}\n"
        )
        to = address(f"evil{n}")
        created = await create_request(
            account, email=to, first_name="Kate", email_template_id=template_id
        )
        evil.append((to, created["id"]))
    innocent = address("innocent")
    await create_request(account, email=innocent)
    await dispatch(app, smtp.url)

    assert not marker.exists()
    for to, request_id in evil:
        state = await fetch_request(account, request_id)
        assert state["state"] in ("sent", "not_sent"), state
        if state["state"] == "not_sent":
            assert "template" in state["not_sent_reason"].lower()
            assert smtp.to(to) == []
        else:
            text, html = parts(smtp.one_to(to))
            for leaked in ("<class", "&lt;class", "__globals__", "<function", "builtins"):
                assert leaked not in text and leaked not in html
    # A bad template does not stop the batch: the next request is sent.
    smtp.one_to(innocent)


async def test_non_ascii_names_are_encoded_in_headers(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    to = address()
    await create_request(account, email=to, first_name="Zoë", surname="Ünal 日本")
    await dispatch(app, smtp.url)
    got = smtp.to(to)
    assert len(got) == 1
    assert header_block(got[0].raw).isascii()
    message = got[0].message
    assert message["To"].addresses[0].display_name == "Zoë Ünal 日本"
    assert message["To"].addresses[0].addr_spec == to
    assert "Zoë" in message["Subject"]
    assert "Zoë" in parts(message)[0]


async def test_internationalised_domain_is_delivered_in_its_ascii_form(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    local = address("idn").split("@")[0]
    created = await create_request(account, email=f"{local}@bücher.example", first_name="Kate")
    await dispatch(app, smtp.url)

    after = await fetch_request(account, created["id"])
    assert after["state"] == "sent", after
    assert after["delivery_failure"] is None
    ascii_form = f"{local}@xn--bcher-kva.example"
    got = smtp.to(ascii_form)
    assert len(got) == 1
    assert got[0].recipients == [ascii_form]
    assert got[0].message["To"].addresses[0].domain in ("xn--bcher-kva.example", "bücher.example")


async def test_non_ascii_mailbox_goes_out_over_smtputf8(app: FastAPI, account: Account) -> None:
    server = SmtpServer(smtputf8=True)
    server.start()
    try:
        to = f"zoë.{address('u').split('@')[0]}@example.com"
        created = await create_request(account, email=to, first_name="Zoë")
        await dispatch(app, server.url)
        after = await fetch_request(account, created["id"])
        assert after["state"] == "sent", after
        assert after["delivery_failure"] is None
        (got,) = server.to(to)
        assert got.recipients == [to]
        assert re.search(rb"(?m)^To: .*" + re.escape(to.encode()), header_block(got.raw))
    finally:
        server.stop()


async def test_non_ascii_mailbox_without_smtputf8_fails_for_good_not_retried_for_a_day(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    to = f"zoë.{address('u').split('@')[0]}@example.com"
    created = await create_request(account, email=to)
    await dispatch(app, smtp.url)
    after = await fetch_request(account, created["id"])
    # The server cannot take this address, now or later: a recorded outcome, not a retry loop.
    assert after["state"] in ("sent", "not_sent"), after
    problem = after["delivery_failure"] or after["not_sent_reason"]
    assert problem
    assert "unexpected error" not in problem.lower()
    assert "SMTPUTF8" in problem


async def test_sender_with_a_display_name(app: FastAPI, account: Account, smtp: SmtpServer) -> None:
    to = address()
    await create_request(account, email=to)
    await dispatch(app, smtp.url, mail_from="Acme Feedback <feedback@acme.example>")
    (got,) = smtp.to(to)
    assert got.sender == "feedback@acme.example"
    message = got.message
    assert message["From"].addresses[0].display_name == "Acme Feedback"
    assert message["From"].addresses[0].addr_spec == "feedback@acme.example"
    assert message["Message-ID"].endswith("@acme.example>")


def _encodings(message: EmailMessage) -> dict[str, str]:
    return {
        part.get_content_type(): str(part["Content-Transfer-Encoding"])
        for part in message.walk()
        if not part.is_multipart()
    }


async def test_parts_go_as_they_are_when_ascii_and_quoted_printable_otherwise(
    app: FastAPI, account: Account, smtp: SmtpServer
) -> None:
    plain, accented = address(), address()
    await create_request(account, email=plain, first_name="Kate")
    await create_request(account, email=accented, first_name="Zoë")
    long_line = "Thanks " + "very " * 250 + "much."  # 1,263 characters: too long for 7bit
    dotted = await _template(
        app,
        account,
        "Hello {{ first_name }}",
        "Dear {{ first_name }},\n.A line that starts with a dot\n..and two\n"
        + long_line
        + "\n{{ survey_link }}\n",
    )
    templated = address()
    await create_request(account, email=templated, first_name="Kate", email_template_id=dotted)
    await dispatch(app, smtp.url)

    # ASCII parts with short lines need no encoding: the link is there as it is, whole.
    [got] = smtp.to(plain)
    assert _encodings(got.message) == {"text/plain": "7bit", "text/html": "7bit"}
    link = survey_link(got.message)
    assert link.encode() in got.raw
    assert "Kate" in parts(got.message)[0]
    # Non-ASCII text is quoted-printable, and decodes to what was written.
    message = smtp.one_to(accented)
    assert _encodings(message) == {
        "text/plain": "quoted-printable",
        "text/html": "quoted-printable",
    }
    assert "Zoë" in parts(message)[0] and "Zoë" in parts(message)[1]
    # A line over 998 characters makes its part quoted-printable; lines that start with a dot
    # arrive as written (DATA stuffs them, the server takes the stuffing off).
    message = smtp.one_to(templated)
    text, html = parts(message)
    assert _encodings(message) == {
        "text/plain": "quoted-printable",
        "text/html": "quoted-printable",
    }
    assert text.replace("\r\n", "\n").startswith(
        "Dear Kate,\n.A line that starts with a dot\n..and two\n" + long_line
    )
    assert "\n.A line that starts with a dot<br>" in html.replace("\r\n", "\n")
