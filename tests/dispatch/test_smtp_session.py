"""One SMTP session's send with ``ready`` (``opensure.dispatch.mail``), against a real aiosmtpd
server: the message is completed (its final dot) only once ``ready`` is done, so a failed
``ready`` leaves nothing delivered; the content arrives byte for byte."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from opensure.dispatch.mail import NotReady, data_content, transport_from_url
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


def test_data_content_ends_lines_with_crlf_and_stuffs_dots() -> None:
    assert data_content(b".a\r\n.b\r\nc") == b"..a\r\n..b\r\nc\r\n"
    assert data_content(b"a\nb\rc\r\n") == b"a\r\nb\r\nc\r\n"
    assert data_content(b"a\r\n..b\n.") == b"a\r\n...b\r\n..\r\n"
    clean = b"To: x\r\n\r\nbody\r\n"
    assert data_content(clean) == clean
