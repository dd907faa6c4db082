"""Group commit of outcomes (``opensure.dispatch.recording``), on a stand-in for the database."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import pytest

from opensure.dispatch.outcomes import NotSent, Outcome, Sent
from opensure.dispatch.recording import GroupCommit

NOW = dt.datetime(2024, 6, 5, tzinfo=dt.UTC)


class Database:
    """Commits take until ``gate`` is opened; what each commit held, in order."""

    def __init__(self) -> None:
        self.commits: list[list[int]] = []
        self.gate = asyncio.Event()
        self.writing = asyncio.Event()
        self.fail: Exception | None = None

    async def write(self, outcomes: Sequence[Outcome]) -> None:
        self.writing.set()
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.commits.append([o.request_id for o in outcomes])


async def test_each_sender_waits_for_its_commit_and_later_ones_share_the_next() -> None:
    db = Database()
    recording = GroupCommit(db.write)
    first = asyncio.create_task(recording.record(Sent(1, NOW)))
    await db.writing.wait()  # the first transaction has started, with outcome 1 alone
    others = [asyncio.create_task(recording.record(Sent(i, NOW))) for i in (2, 3)]
    recording.add(NotSent(4, NOW, "unsubscribed"))
    await asyncio.sleep(0.01)
    assert not first.done() and not any(t.done() for t in others)
    assert db.commits == []

    db.gate.set()
    await asyncio.gather(first, *others)
    assert [sorted(c) for c in db.commits] == [[1], [2, 3, 4]]
    await recording.flush()
    assert len(db.commits) == 2, "nothing left: no empty transaction"


async def test_a_failed_commit_is_raised_to_its_senders_and_kept_for_the_next() -> None:
    db = Database()
    db.gate.set()
    db.fail = OSError("database down")
    recording = GroupCommit(db.write)
    with pytest.raises(OSError, match="database down"):
        await recording.record(Sent(1, NOW))
    recording.add(Sent(2, NOW))
    with pytest.raises(OSError):
        await recording.flush()
    assert len(recording) == 2

    db.fail = None
    await recording.flush()
    assert db.commits == [[1, 2]]
