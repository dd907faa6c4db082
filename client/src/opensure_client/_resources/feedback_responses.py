"""/feedback_responses: customers' answers (read only), listed or synced incrementally."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from opensure_client._base import Call, Reply, parse_value, query, segment
from opensure_client._errors import UnexpectedResponseError
from opensure_client._incremental import DEFAULT_OVERLAP, Checkpoint, SyncState
from opensure_client._models import FeedbackResponse
from opensure_client._pagination import AsyncPager, Pager, next_url
from opensure_client._params import array, timestamp

if TYPE_CHECKING:
    from opensure_client._async_client import AsyncClient
    from opensure_client._client import Client

PATH = "/feedback_responses"
SyncSince = Checkpoint | datetime | date | str | None


def _list(
    updated_since: datetime | date | None,
    email: str | None,
    survey_ids: Iterable[int] | None,
    per_page: int | None,
) -> Call:
    return Call(
        "GET",
        PATH,
        query(
            updated_since=timestamp(updated_since) if updated_since is not None else None,
            email=email,
            survey_ids=array(survey_ids),
            per_page=per_page,
        ),
    )


def _rows(reply: Reply) -> list[Any]:
    if not isinstance(reply.json, list):
        raise UnexpectedResponseError(
            f"the answer from {reply.url.path} is not a list",
            status_code=reply.status_code,
            request_id=reply.request_id,
        )
    return reply.json


class ResponseSync:
    """Iterate to get each new or changed response once; then read ``checkpoint``."""

    def __init__(self, client: Client, since: SyncSince, overlap: timedelta) -> None:
        self._client = client
        self._state = SyncState(Checkpoint.coerce(since), overlap)
        self._checkpoint: Checkpoint | None = None
        self._started = False

    def __iter__(self) -> Iterator[FeedbackResponse]:
        if self._started:
            raise RuntimeError("a ResponseSync can be iterated once; call sync() again")
        self._started = True
        state = self._state
        call: Call | None = state.first_call()
        while call is not None:
            reply = self._client._request(call)
            state.saw_reply(reply)
            for raw in _rows(reply):
                item = parse_value(FeedbackResponse, raw, reply)
                if state.accept(raw, item):
                    yield item
            url = next_url(reply)
            call = Call("GET", url) if url is not None else None
        self._checkpoint = state.finish()

    @property
    def checkpoint(self) -> Checkpoint:
        """The checkpoint for the next run; available once the iteration has finished."""
        if self._checkpoint is None:
            raise RuntimeError("iterate the sync to the end before reading its checkpoint")
        return self._checkpoint


class AsyncResponseSync:
    """``async for`` to get each new or changed response once; then read ``checkpoint``."""

    def __init__(self, client: AsyncClient, since: SyncSince, overlap: timedelta) -> None:
        self._client = client
        self._state = SyncState(Checkpoint.coerce(since), overlap)
        self._checkpoint: Checkpoint | None = None
        self._started = False

    async def _iterate(self) -> AsyncIterator[FeedbackResponse]:
        state = self._state
        call: Call | None = state.first_call()
        while call is not None:
            reply = await self._client._request(call)
            state.saw_reply(reply)
            for raw in _rows(reply):
                item = parse_value(FeedbackResponse, raw, reply)
                if state.accept(raw, item):
                    yield item
            url = next_url(reply)
            call = Call("GET", url) if url is not None else None
        self._checkpoint = state.finish()

    def __aiter__(self) -> AsyncIterator[FeedbackResponse]:
        if self._started:
            raise RuntimeError("an AsyncResponseSync can be iterated once; call sync() again")
        self._started = True
        return self._iterate()

    @property
    def checkpoint(self) -> Checkpoint:
        """The checkpoint for the next run; available once the iteration has finished."""
        if self._checkpoint is None:
            raise RuntimeError("iterate the sync to the end before reading its checkpoint")
        return self._checkpoint


class FeedbackResponses:
    """``client.feedback_responses``: what customers answered."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(self, id: int) -> FeedbackResponse:
        """One feedback response by id."""
        return self._client._parse(FeedbackResponse, Call("GET", f"{PATH}/{segment(id)}"))

    def list(
        self,
        *,
        updated_since: datetime | date | None = None,
        email: str | None = None,
        survey_ids: Iterable[int] | None = None,
        per_page: int | None = None,
    ) -> Pager[FeedbackResponse]:
        """Every response (newest first), optionally only those created or updated since a time,
        left by an email address, or to some surveys."""
        return self._client._pager(
            FeedbackResponse, _list(updated_since, email, survey_ids, per_page)
        )

    def sync(
        self, *, since: SyncSince = None, overlap: timedelta = DEFAULT_OVERLAP
    ) -> ResponseSync:
        """Each response created or updated since the checkpoint, once; then ``.checkpoint``.

        ``since`` is a Checkpoint (or its ``str()``), a datetime for a first run, or None for
        everything.
        """
        return ResponseSync(self._client, since, overlap)


class AsyncFeedbackResponses:
    """``client.feedback_responses`` of an AsyncClient."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def get(self, id: int) -> FeedbackResponse:
        """One feedback response by id."""
        return await self._client._parse(FeedbackResponse, Call("GET", f"{PATH}/{segment(id)}"))

    def list(
        self,
        *,
        updated_since: datetime | date | None = None,
        email: str | None = None,
        survey_ids: Iterable[int] | None = None,
        per_page: int | None = None,
    ) -> AsyncPager[FeedbackResponse]:
        """Every response (newest first); await it or ``async for`` over it."""
        return self._client._pager(
            FeedbackResponse, _list(updated_since, email, survey_ids, per_page)
        )

    def sync(
        self, *, since: SyncSince = None, overlap: timedelta = DEFAULT_OVERLAP
    ) -> AsyncResponseSync:
        """Each response created or updated since the checkpoint, once; then ``.checkpoint``."""
        return AsyncResponseSync(self._client, since, overlap)
