"""/nps and /response_rate: the account's key numbers over a window."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING

from opensure_client._base import Call, query
from opensure_client._models import NetPromoterScore, ResponseRate
from opensure_client._params import array, timestamp

if TYPE_CHECKING:
    from opensure_client._async_client import AsyncClient
    from opensure_client._client import Client

Moment = datetime | date | None


def _window(from_time: Moment, to_time: Moment) -> dict[str, str | None]:
    return {
        "from_time": timestamp(from_time) if from_time is not None else None,
        "to_time": timestamp(to_time) if to_time is not None else None,
    }


def _nps(from_time: Moment, to_time: Moment, question_ids: Iterable[int] | None) -> Call:
    return Call(
        "GET", "/nps", query(**_window(from_time, to_time), question_ids=array(question_ids))
    )


def _response_rate(from_time: Moment, to_time: Moment, survey_ids: Iterable[int] | None) -> Call:
    return Call(
        "GET",
        "/response_rate",
        query(**_window(from_time, to_time), survey_ids=array(survey_ids)),
    )


class Metrics:
    """``client.metrics``: Net Promoter Score and response rate.

    Windows include both ends; a ``date`` is midnight UTC and a naive datetime is UTC.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    def nps(
        self,
        *,
        from_time: Moment = None,
        to_time: Moment = None,
        question_ids: Iterable[int] | None = None,
    ) -> NetPromoterScore:
        """NPS of answers submitted in the window (default: the last 30 days, until now)."""
        return self._client._parse(NetPromoterScore, _nps(from_time, to_time, question_ids))

    def response_rate(
        self,
        *,
        from_time: Moment = None,
        to_time: Moment = None,
        survey_ids: Iterable[int] | None = None,
    ) -> ResponseRate:
        """Replies to requests sent in the window (default: 32 to 2 days ago)."""
        return self._client._parse(ResponseRate, _response_rate(from_time, to_time, survey_ids))


class AsyncMetrics:
    """``client.metrics`` of an AsyncClient."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def nps(
        self,
        *,
        from_time: Moment = None,
        to_time: Moment = None,
        question_ids: Iterable[int] | None = None,
    ) -> NetPromoterScore:
        """NPS of answers submitted in the window (default: the last 30 days, until now)."""
        return await self._client._parse(NetPromoterScore, _nps(from_time, to_time, question_ids))

    async def response_rate(
        self,
        *,
        from_time: Moment = None,
        to_time: Moment = None,
        survey_ids: Iterable[int] | None = None,
    ) -> ResponseRate:
        """Replies to requests sent in the window (default: 32 to 2 days ago)."""
        return await self._client._parse(
            ResponseRate, _response_rate(from_time, to_time, survey_ids)
        )
