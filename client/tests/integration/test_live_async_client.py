"""AsyncClient against a real ``opensure serve``: every method once."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opensure_client import AsyncClient, NotFoundError, UnprocessableEntityError

pytestmark = pytest.mark.e2e


async def test_every_method(live_server: Any) -> None:
    async with AsyncClient(
        token=live_server.token, user_agent="Acme Ltd", base_url=live_server.base_url
    ) as client:
        # Feedback requests.
        address = f"async-{secrets.token_hex(4)}@example.com"
        later = await client.feedback_requests.create(
            email=address,
            send_at=datetime.now(UTC) + timedelta(days=1),
            survey_id=live_server.survey_id,
            data=[("category", "returns")],
        )
        assert (await client.feedback_requests.get(later.id)).data_dict() == {"category": "returns"}
        moved = await client.feedback_requests.update(later.id, surname="Smith")
        assert moved.surname == "Smith"
        pager = await client.feedback_requests.list(states=["pending"], per_page=1)
        assert pager.total_pages == pager.total_count >= 1
        assert later.id in {r.id async for r in pager}
        await client.feedback_requests.delete(later.id)
        with pytest.raises(NotFoundError):
            await client.feedback_requests.get(later.id)
        with pytest.raises(UnprocessableEntityError) as caught:
            await client.feedback_requests.create(
                email=address, send_at=datetime.now(UTC), survey_id=0
            )
        assert [e.field for e in caught.value.errors] == ["survey_id"]

        # A response, through the emailed link.
        now = await client.feedback_requests.create(
            email=address, send_at=datetime.now(UTC), survey_id=live_server.survey_id
        )
        message = await asyncio.to_thread(live_server.wait_for_email, address)
        await asyncio.to_thread(live_server.answer, live_server.survey_link(message), 6)
        responses = [r async for r in client.feedback_responses.list(email=address)]
        assert len(responses) == 1
        response = await client.feedback_responses.get(responses[0].id)
        assert response.feedback_request is not None
        assert response.feedback_request.id == now.id
        sync = client.feedback_responses.sync(since=datetime.now(UTC) - timedelta(minutes=1))
        assert response.id in {r.id async for r in sync}
        assert response.id in sync.checkpoint.seen

        nps = await client.metrics.nps(from_time=datetime.now(UTC) - timedelta(hours=1))
        assert nps.detractor_count >= 1
        rate = await client.metrics.response_rate(
            from_time=datetime.now(UTC) - timedelta(hours=1), to_time=datetime.now(UTC)
        )
        assert rate.reply_count >= 1

        # Sites.
        code = f"async-{secrets.token_hex(3)}"
        await client.sites.create(site_code=code, name="Depot", region="Yorkshire")
        assert (await client.sites.get(code)).region == "Yorkshire"
        assert (await client.sites.update(code, city="Leeds")).city == "Leeds"
        assert (await client.sites.replace(code, name="Depot")).city is None
        assert code in {s.site_code async for s in client.sites.list(per_page=1)}
        await client.sites.delete(code)
        with pytest.raises(NotFoundError):
            await client.sites.get(code)
