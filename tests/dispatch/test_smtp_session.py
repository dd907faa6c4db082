"""One SMTP session's send with ``ready`` (``opensure.dispatch.mail``), against a real aiosmtpd
server: the message is completed (its final dot) only once ``ready`` is done, so a failed
``ready`` leaves nothing delivered; the content arrives byte for byte; the envelope (written by
the session, not by aiosmtplib's sendmail) carries the paths, SIZE and the server's refusals as
sendmail did."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from aiosmtplib.email import quote_address

from opensure.dispatch.mail import (
    NotReady,
    PermanentFailure,
    TemporaryFailure,
    _mailbox,
    data_content,
    transport_from_url,
)
from tests.dispatch.support import SmtpServer, address

SENDER = "feedback@opensure.test"


@dataclass
class Raw:
    data: bytes

    def as_bytes(self) -> bytes:
        return self.data


BODY = b"Subject: hello\r\n\r\n.starts with a dot\r\nbare line feed\nlast line"
# As the server stores it: dots unstuffed, every line ending CRLF, the last one included.
RECEIVED = b"Subject: hello\r\n\r\n.starts with a dot\r\nbare line feed\r\nlast line\r\n"


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server never got that far")


async def test_the_message_is_completed_only_once_ready_is_done(smtp: SmtpServer) -> None:
    to = address()
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    async with transport_from_url(smtp.url).session() as session:
        send = asyncio.create_task(session.send(Raw(BODY), SENDER, to, ready))
        await until(lambda: to in smtp.rcpt_seen)
        await asyncio.sleep(0.2)  # DATA and the content have had time to arrive
        assert smtp.to(to) == [] and not send.done()
        ready.set_result(None)
        await send
    [got] = smtp.to(to)
    assert got.raw == RECEIVED


async def test_a_failed_ready_delivers_nothing_and_the_session_goes_on(smtp: SmtpServer) -> None:
    first, second = address(), address()
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    async with transport_from_url(smtp.url).session() as session:
        send = asyncio.create_task(session.send(Raw(BODY), SENDER, first, ready))
        await until(lambda: first in smtp.rcpt_seen)
        ready.set_exception(OSError("database down"))
        with pytest.raises(NotReady, match="database down"):
            await send
        await session.send(Raw(BODY), SENDER, second)  # on a fresh connection
    assert smtp.to(first) == []
    assert [m.raw for m in smtp.to(second)] == [RECEIVED]


async def test_a_ready_that_failed_before_the_send_delivers_nothing(smtp: SmtpServer) -> None:
    first, second = address(), address()
    failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    failed.set_exception(OSError("database down"))
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    async with transport_from_url(smtp.url).session() as session:
        with pytest.raises(NotReady, match="database down"):
            await session.send(Raw(BODY), SENDER, first, failed)
        await session.send(Raw(BODY), SENDER, second, done)  # content and dot in one write
    assert smtp.to(first) == []
    assert [m.raw for m in smtp.to(second)] == [RECEIVED]


def test_data_content_ends_lines_with_crlf_and_stuffs_dots() -> None:
    assert data_content(b".a\r\n.b\r\nc") == b"..a\r\n..b\r\nc\r\n"
    assert data_content(b"a\nb\rc\r\n") == b"a\r\nb\r\nc\r\n"
    assert data_content(b"a\r\n..b\n.") == b"a\r\n...b\r\n..\r\n"
    clean = b"To: x\r\n\r\nbody\r\n"
    assert data_content(clean) == clean


async def test_mail_from_carries_the_size_data_transmits(smtp: SmtpServer) -> None:
    to = address()
    async with transport_from_url(smtp.url).session() as session:
        await session.send(Raw(BODY), SENDER, to)
    [options] = [o for sender, o in smtp.mail_seen if sender == SENDER]
    assert options == [f"SIZE={len(data_content(BODY))}"]
    assert [m.raw for m in smtp.to(to)] == [RECEIVED]


@pytest.mark.parametrize(
    ("reply", "error"),
    [("552 5.3.4 Message too big", PermanentFailure), ("452 4.3.1 Try later", TemporaryFailure)],
)
async def test_a_refused_sender_is_a_failure_and_the_session_goes_on(
    smtp: SmtpServer, reply: str, error: type[Exception]
) -> None:
    first, second = address(), address()
    smtp.reply_mail(SENDER, reply)
    async with transport_from_url(smtp.url).session() as session:
        with pytest.raises(error, match=reply.split()[0]):
            await session.send(Raw(BODY), SENDER, first)
        await session.send(Raw(BODY), SENDER, second)
    assert smtp.to(first) == [] and first not in smtp.rcpt_seen
    assert [m.raw for m in smtp.to(second)] == [RECEIVED]


def test_a_plain_address_is_its_own_path_as_aiosmtplib_quotes_it() -> None:
    # The session skips aiosmtplib's address parsing for addresses made only of these
    # characters: for every one of them, its quote_address gives the same path.
    rng = random.Random(12)
    local, domain = "aZ09.!#$%&'*+/=?^_`{|}~-", "aZ09.-"
    for _ in range(20_000):
        addr = (
            "".join(rng.choice(local) for _ in range(rng.randint(1, 8)))
            + "@"
            + "".join(rng.choice(domain) for _ in range(rng.randint(1, 8)))
        )
        assert _mailbox(addr) == quote_address(addr) == f"<{addr}>"
    # Anything else is aiosmtplib's to parse: a display name, and an attempt at injection.
    assert _mailbox("Kate Bush <kate@example.com>") == "<kate@example.com>"
    assert _mailbox('"kate bush"@example.com') == quote_address('"kate bush"@example.com')
    injected = "kate@example.com> SIZE=1\r\nRSET"
    assert _mailbox(injected) == quote_address(injected) == "<kate@example.com>"
