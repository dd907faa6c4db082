"""Incremental export of feedback responses: every new or changed one exactly once.

``GET /feedback_responses?updated_since=T`` returns the responses created or updated at or after
``T``. Using it naively misses or repeats responses:

- timestamps have one-second resolution, so "since the last one I saw" either repeats the
  responses of that second or misses the ones written later in the same second;
- a response being written while the export reads (or the clocks of several servers
  disagreeing) can carry an ``updated_at`` earlier than a moment already read past.

So a ``Checkpoint`` is a time *and* the versions already delivered at or after it. The next
run asks from that time, which lies ``overlap`` (default 2 minutes) before the server's clock
(its ``Date`` header) at the start of the run, and skips every version it has already
delivered. A version is the response's whole JSON: an answer changed again within the same
second is still a new version. Within a run, a response seen twice (new responses shift the
pages while they are read) is delivered once.

The checkpoint is only ready once the iteration finished. Store it after the export has been
committed: if the export fails half-way, running again from the old checkpoint repeats
responses instead of losing them.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from opensure_client._base import Call, Reply, query
from opensure_client._models import FeedbackResponse
from opensure_client._params import timestamp

__all__ = ["Checkpoint"]

DEFAULT_OVERLAP = timedelta(minutes=2)
SYNC_PAGE_SIZE = 100


@dataclass(frozen=True)
class Checkpoint:
    """Where the last sync stopped. Persist it with ``str()`` / ``Checkpoint.parse()``."""

    since: datetime | None = None
    # id -> fingerprint of the version already delivered, for responses updated at/after since
    seen: Mapping[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.since is not None:
            since = self.since
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            object.__setattr__(self, "since", since.astimezone(UTC).replace(microsecond=0))
        object.__setattr__(self, "seen", dict(self.seen))

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": 1,
                "since": timestamp(self.since) if self.since is not None else None,
                "seen": {str(k): v for k, v in sorted(self.seen.items())},
            },
            separators=(",", ":"),
        )

    def __str__(self) -> str:
        return self.to_json()

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """A checkpoint from ``str(checkpoint)``."""
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict) or raw.get("v") != 1:
                raise ValueError("unknown checkpoint version")
            since = raw.get("since")
            return cls(
                since=datetime.fromisoformat(since) if since else None,
                seen={int(k): str(v) for k, v in raw.get("seen", {}).items()},
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a checkpoint: {text[:80]!r} ({exc})") from None

    @classmethod
    def coerce(cls, since: Checkpoint | datetime | date | str | None) -> Checkpoint:
        if since is None or isinstance(since, Checkpoint):
            return since or cls()
        if isinstance(since, str):
            return cls.parse(since)
        if not isinstance(since, datetime):
            since = datetime(since.year, since.month, since.day, tzinfo=UTC)
        return cls(since=since)


def fingerprint(raw: Any) -> str:
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SyncState:
    """The bookkeeping of one run, shared by the sync and async iterators."""

    def __init__(self, start: Checkpoint, overlap: timedelta) -> None:
        if overlap < timedelta(0):
            raise ValueError("overlap must not be negative")
        self.start = start
        self.overlap = overlap
        self.server_now: datetime | None = None
        self.delivered: set[tuple[int, str]] = set()
        # id -> (fingerprint, updated_at) of the newest version returned in this run
        self.returned: dict[int, tuple[str, datetime]] = {}

    def first_call(self) -> Call:
        since = self.start.since
        return Call(
            "GET",
            "/feedback_responses",
            query(
                updated_since=timestamp(since) if since is not None else None,
                per_page=SYNC_PAGE_SIZE,
            ),
        )

    def saw_reply(self, reply: Reply) -> None:
        if self.server_now is None:
            self.server_now = _http_date(reply.headers.get("Date"))

    def accept(self, raw: Any, item: FeedbackResponse) -> bool:
        """Whether ``item`` is to be delivered (a version not delivered before)."""
        mark = fingerprint(raw)
        updated = item.updated_at or item.submitted_at
        known = self.returned.get(item.id)
        if known is None or updated >= known[1]:
            self.returned[item.id] = (mark, updated)
        if self.start.seen.get(item.id) == mark or (item.id, mark) in self.delivered:
            return False
        self.delivered.add((item.id, mark))
        return True

    def finish(self) -> Checkpoint:
        if self.server_now is not None:
            until = self.server_now
        elif self.returned:
            until = max(updated for _, updated in self.returned.values())
        else:
            until = self.start.since or datetime.now(UTC)
        since = (until - self.overlap).replace(microsecond=0)
        if self.start.since is not None and since < self.start.since:
            since = self.start.since
        if self.start.since is None and not self.returned and self.server_now is None:
            return Checkpoint()
        seen = {rid: mark for rid, (mark, updated) in self.returned.items() if updated >= since}
        return Checkpoint(since=since, seen=seen)


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)
