"""/feedback_requests: schedule survey emails, change or cancel them, list them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opensure_client._base import Call, query, segment
from opensure_client._models import FeedbackRequest
from opensure_client._pagination import AsyncPager, Pager
from opensure_client._params import (
    UNSET,
    DataInput,
    UnsetType,
    array,
    body,
    data_items,
    present,
    timestamp,
)

if TYPE_CHECKING:
    from opensure_client._async_client import AsyncClient
    from opensure_client._client import Client

PATH = "/feedback_requests"


def _create(
    *,
    email: str,
    send_at: datetime,
    survey_id: int,
    email_template_id: int | None,
    first_name: str | None,
    surname: str | None,
    reference: str | None,
    machine_id: str | None,
    data: DataInput | None,
    query_params: DataInput | None,
    idempotency_key: str | None,
) -> Call:
    fields = present(
        email=email,
        send_at=timestamp(send_at),
        survey_id=survey_id,
        email_template_id=email_template_id,
        first_name=first_name,
        surname=surname,
        reference=reference,
        machine_id=machine_id,
        data=data_items(data) if data is not None else None,
        query_params=data_items(query_params) if query_params is not None else None,
    )
    return Call("POST", PATH, json=fields, idempotency_key=idempotency_key)


def _update(id: int, fields: dict[str, Any], idempotency_key: str | None) -> Call:
    if fields.get("send_at") not in (UNSET, None):
        fields["send_at"] = timestamp(fields["send_at"])
    for name in ("data", "query_params"):
        if fields.get(name) not in (UNSET, None):
            fields[name] = data_items(fields[name])
    return Call(
        "PATCH", f"{PATH}/{segment(id)}", json=body(**fields), idempotency_key=idempotency_key
    )


def _list(
    states: Iterable[str] | str | None, survey_ids: Iterable[int] | None, per_page: int | None
) -> Call:
    return Call(
        "GET",
        PATH,
        query(states=array(states), survey_ids=array(survey_ids), per_page=per_page),
    )


class FeedbackRequests:
    """``client.feedback_requests``: survey emails to customers."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self,
        *,
        email: str,
        send_at: datetime,
        survey_id: int,
        email_template_id: int | None = None,
        first_name: str | None = None,
        surname: str | None = None,
        reference: str | None = None,
        machine_id: str | None = None,
        data: DataInput | None = None,
        query_params: DataInput | None = None,
        idempotency_key: str | None = None,
    ) -> FeedbackRequest:
        """Schedule a survey email for ``send_at`` (naive = UTC; now or up to 24 h ago = ASAP).

        ``data`` is a dict or a list of (key, value) pairs: ``staff_code``, ``site_code`` and
        segment keys link the feedback; other keys are stored with it. With an
        ``idempotency_key`` the call is retried on connection errors, 429 and 5xx.
        """
        call = _create(
            email=email,
            send_at=send_at,
            survey_id=survey_id,
            email_template_id=email_template_id,
            first_name=first_name,
            surname=surname,
            reference=reference,
            machine_id=machine_id,
            data=data,
            query_params=query_params,
            idempotency_key=idempotency_key,
        )
        return self._client._parse(FeedbackRequest, call)

    def get(self, id: int) -> FeedbackRequest:
        """One feedback request by id."""
        return self._client._parse(FeedbackRequest, Call("GET", f"{PATH}/{segment(id)}"))

    def update(
        self,
        id: int,
        *,
        email: str | UnsetType = UNSET,
        send_at: datetime | UnsetType = UNSET,
        survey_id: int | UnsetType = UNSET,
        email_template_id: int | UnsetType | None = UNSET,
        first_name: str | UnsetType | None = UNSET,
        surname: str | UnsetType | None = UNSET,
        reference: str | UnsetType | None = UNSET,
        machine_id: str | UnsetType | None = UNSET,
        data: DataInput | UnsetType = UNSET,
        query_params: DataInput | UnsetType = UNSET,
        idempotency_key: str | None = None,
    ) -> FeedbackRequest:
        """Change a pending request; only the arguments given are sent (None clears a field).

        ``data`` items are added, except a ``DataItem`` with an ``id``, which changes that item.
        """
        call = _update(
            id,
            {
                "email": email,
                "send_at": send_at,
                "survey_id": survey_id,
                "email_template_id": email_template_id,
                "first_name": first_name,
                "surname": surname,
                "reference": reference,
                "machine_id": machine_id,
                "data": data,
                "query_params": query_params,
            },
            idempotency_key,
        )
        return self._client._parse(FeedbackRequest, call)

    def delete(self, id: int) -> None:
        """Cancel a pending request; for a sent one, erase the customer's personal data."""
        self._client._request(Call("DELETE", f"{PATH}/{segment(id)}"))

    def list(
        self,
        *,
        states: Iterable[str] | str | None = None,
        survey_ids: Iterable[int] | None = None,
        per_page: int | None = None,
    ) -> Pager[FeedbackRequest]:
        """Every request (newest ``send_at`` first), optionally of some states and surveys."""
        return self._client._pager(FeedbackRequest, _list(states, survey_ids, per_page))


class AsyncFeedbackRequests:
    """``client.feedback_requests`` of an AsyncClient."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self,
        *,
        email: str,
        send_at: datetime,
        survey_id: int,
        email_template_id: int | None = None,
        first_name: str | None = None,
        surname: str | None = None,
        reference: str | None = None,
        machine_id: str | None = None,
        data: DataInput | None = None,
        query_params: DataInput | None = None,
        idempotency_key: str | None = None,
    ) -> FeedbackRequest:
        """Schedule a survey email for ``send_at``; see ``Client.feedback_requests.create``."""
        call = _create(
            email=email,
            send_at=send_at,
            survey_id=survey_id,
            email_template_id=email_template_id,
            first_name=first_name,
            surname=surname,
            reference=reference,
            machine_id=machine_id,
            data=data,
            query_params=query_params,
            idempotency_key=idempotency_key,
        )
        return await self._client._parse(FeedbackRequest, call)

    async def get(self, id: int) -> FeedbackRequest:
        """One feedback request by id."""
        return await self._client._parse(FeedbackRequest, Call("GET", f"{PATH}/{segment(id)}"))

    async def update(
        self,
        id: int,
        *,
        email: str | UnsetType = UNSET,
        send_at: datetime | UnsetType = UNSET,
        survey_id: int | UnsetType = UNSET,
        email_template_id: int | UnsetType | None = UNSET,
        first_name: str | UnsetType | None = UNSET,
        surname: str | UnsetType | None = UNSET,
        reference: str | UnsetType | None = UNSET,
        machine_id: str | UnsetType | None = UNSET,
        data: DataInput | UnsetType = UNSET,
        query_params: DataInput | UnsetType = UNSET,
        idempotency_key: str | None = None,
    ) -> FeedbackRequest:
        """Change a pending request; only the arguments given are sent (None clears a field)."""
        call = _update(
            id,
            {
                "email": email,
                "send_at": send_at,
                "survey_id": survey_id,
                "email_template_id": email_template_id,
                "first_name": first_name,
                "surname": surname,
                "reference": reference,
                "machine_id": machine_id,
                "data": data,
                "query_params": query_params,
            },
            idempotency_key,
        )
        return await self._client._parse(FeedbackRequest, call)

    async def delete(self, id: int) -> None:
        """Cancel a pending request; for a sent one, erase the customer's personal data."""
        await self._client._request(Call("DELETE", f"{PATH}/{segment(id)}"))

    def list(
        self,
        *,
        states: Iterable[str] | str | None = None,
        survey_ids: Iterable[int] | None = None,
        per_page: int | None = None,
    ) -> AsyncPager[FeedbackRequest]:
        """Every request (newest ``send_at`` first); await it or ``async for`` over it."""
        return self._client._pager(FeedbackRequest, _list(states, survey_ids, per_page))
