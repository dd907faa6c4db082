"""Client against a real ``opensure serve``: every method, as an integrator would use it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opensure_client import (
    AuthenticationError,
    Checkpoint,
    Client,
    DataItem,
    FeedbackRequest,
    NotFoundError,
    PermissionDeniedError,
    UnprocessableEntityError,
)
from opensure_client._base import Call

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(live_server: Any) -> Iterator[Client]:
    with Client(
        token=live_server.token, user_agent="Acme Ltd", base_url=live_server.base_url
    ) as api:
        yield api


def _address() -> str:
    return f"customer-{secrets.token_hex(4)}@example.com"


def test_feedback_request_lifecycle(client: Client, live_server: Any) -> None:
    send_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    created = client.feedback_requests.create(
        email=_address(),
        send_at=send_at.replace(tzinfo=None),  # naive: UTC
        survey_id=live_server.survey_id,
        first_name="John",
        reference="#1041",
        machine_id="8736245",
        data={"staff_code": "luke", "category": "api-support"},
        query_params=[("utm_source", "helpdesk")],
    )
    assert isinstance(created, FeedbackRequest)
    assert created.state == "pending"
    assert created.send_at == send_at
    assert created.created_at is not None and created.created_at.tzinfo is not None
    assert created.data_dict() == {"staff_code": "luke", "category": "api-support"}
    assert [(q.key, q.value) for q in created.query_params] == [("utm_source", "helpdesk")]

    found = client.feedback_requests.get(created.id)
    assert found == created

    staff = next(item for item in created.data if item.key == "staff_code")
    updated = client.feedback_requests.update(
        created.id,
        first_name="Kate",
        machine_id=None,
        data=[DataItem(id=staff.id, key="staff_code", value="leia"), ("channel", "phone")],
    )
    assert updated.first_name == "Kate"
    assert updated.machine_id is None
    assert updated.reference == "#1041"
    assert updated.data_dict() == {
        "staff_code": "leia",
        "category": "api-support",
        "channel": "phone",
    }

    pending = client.feedback_requests.list(states=["pending"], per_page=100)
    assert created.id in {r.id for r in pending}
    assert all(r.state == "pending" for r in pending)

    client.feedback_requests.delete(created.id)
    with pytest.raises(NotFoundError) as caught:
        client.feedback_requests.get(created.id)
    assert caught.value.request_id


def test_list_walks_every_page(client: Client, live_server: Any) -> None:
    ids = [
        client.feedback_requests.create(
            email=_address(),
            send_at=datetime.now(UTC) + timedelta(days=10, minutes=n),
            survey_id=live_server.survey_id,
        ).id
        for n in range(5)
    ]
    pager = client.feedback_requests.list(
        states="pending", survey_ids=[live_server.survey_id], per_page=2
    )
    assert pager.total_count >= 5
    assert pager.total_pages == -(-pager.total_count // 2)
    listed = [r.id for r in pager]
    assert len(listed) == pager.total_count
    assert set(ids) <= set(listed)
    sizes = [len(page) for page in pager.pages()]
    assert sum(sizes) == pager.total_count
    assert all(size == 2 for size in sizes[:-1])
    for id in ids:
        client.feedback_requests.delete(id)


def test_errors_from_the_server(client: Client, live_server: Any) -> None:
    with pytest.raises(UnprocessableEntityError) as caught:
        client.feedback_requests.create(
            email="not an address",
            send_at=datetime(2000, 1, 1),
            survey_id=999_999,
            machine_id="x" * 40,
        )
    fields = {e.field: e.error for e in caught.value.errors}
    assert fields == {
        "email": "invalid_format",
        "send_at": "invalid_date",
        "survey_id": "invalid_value",
        "machine_id": "wrong_length",
    }
    assert caught.value.status_code == 422
    assert caught.value.request_id

    with pytest.raises(NotFoundError):
        client.sites.get("no-such-site")

    # Parameters the SDK never sends, to see the server's 403 arrive as its class.
    with pytest.raises(PermissionDeniedError, match="colour"):
        client._request(Call("POST", "/sites", json={"site_code": "x", "name": "X", "colour": 1}))

    with (
        Client(token="os_wrong", user_agent="Acme Ltd", base_url=live_server.base_url) as stranger,
        pytest.raises(AuthenticationError) as denied,
    ):
        stranger.sites.list()
    assert denied.value.message == "Bad credentials"


def test_responses_sync_and_metrics(client: Client, live_server: Any) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    first = client.feedback_responses.sync(since=started - timedelta(minutes=5))
    list(first)  # whatever other tests answered: delivered once, remembered in the checkpoint
    checkpoint = first.checkpoint

    address = _address()
    request = client.feedback_requests.create(
        email=address,
        send_at=datetime.now(UTC),
        survey_id=live_server.survey_id,
        reference="#2001",
        data={"category": "billing"},
    )
    link = live_server.survey_link(live_server.wait_for_email(address))
    live_server.answer(link, score=9, comment="Quick and friendly")

    sent = client.feedback_requests.get(request.id)
    assert sent.state == "sent" and sent.sent_at is not None

    listed = list(client.feedback_responses.list(email=address))
    assert len(listed) == 1
    response = client.feedback_responses.get(listed[0].id)
    assert response.reference == "#2001"
    assert response.answer_to(live_server.nps_question_id) == "9"
    assert response.fields["category"] == "billing"
    assert response.feedback_request is not None
    assert response.feedback_request.id == request.id
    assert response.submitted_at.tzinfo is not None

    since_start = list(client.feedback_responses.list(updated_since=started))
    assert response.id in {r.id for r in since_start}

    second = client.feedback_responses.sync(since=str(checkpoint))
    assert [r.id for r in second] == [response.id]
    third = client.feedback_responses.sync(since=second.checkpoint)
    assert list(third) == []  # delivered already: not repeated

    live_server.answer(link, score=10, comment="Even better")  # the customer changes the answer
    fourth = client.feedback_responses.sync(since=Checkpoint.parse(str(third.checkpoint)))
    changed = list(fourth)
    assert [r.id for r in changed] == [response.id]
    assert changed[0].answer_to(live_server.nps_question_id) == "10"

    today = started.date()
    nps = client.metrics.nps(from_time=today, question_ids=[live_server.nps_question_id])
    assert nps.promoter_count >= 1
    assert nps.net_promoter_score is not None
    rate = client.metrics.response_rate(
        from_time=today, to_time=datetime.now(UTC), survey_ids=[live_server.survey_id]
    )
    assert rate.sent_count >= 1 and rate.reply_count >= 1
    assert rate.response_rate_percent > 0
    default_window = client.metrics.response_rate()  # ends two days ago
    assert default_window.sent_count == 0

    # Deleting a sent request erases the customer's data but keeps the record.
    client.feedback_requests.delete(request.id)
    erased = client.feedback_requests.get(request.id)
    assert erased.deletion_requested_at is not None
    assert erased.email is None


def test_anonymous_response(client: Client, live_server: Any) -> None:
    link = f"{live_server.base_url}/s/{live_server.survey['code']}"
    live_server.answer(link, score=3, comment="Slow")
    found = list(client.feedback_responses.list(email="anon@example.com"))
    assert found and found[0].feedback_request is None
    assert found[0].fields["name"] == "Anonymous Customer"


def test_site_lifecycle(client: Client) -> None:
    code = f"hq-{secrets.token_hex(3)}"
    created = client.sites.create(
        site_code=code,
        name="Head Office",
        city="Newcastle",
        region="Tyne and Wear",
        country_code="gb",
    )
    assert created.country_code == "GB"
    assert client.sites.get(code) == created

    renamed_code = f"{code}-new"
    renamed = client.sites.update(code, site_code=renamed_code, city=None)
    assert renamed.site_code == renamed_code and renamed.city is None
    # The old code redirects (301 for GET, 307 for PATCH) and the client follows.
    assert client.sites.get(code).site_code == renamed_code
    assert client.sites.update(code, name="Main Office").name == "Main Office"

    replaced = client.sites.replace(renamed_code, name="Main Office")
    assert replaced.region is None and replaced.country_code is None
    other = f"shop-{secrets.token_hex(3)}"
    assert client.sites.replace(other, name="Shop", region="North East").site_code == other

    pager = client.sites.list(per_page=1)
    codes = [s.site_code for s in pager]
    assert {renamed_code, other} <= set(codes)
    assert pager.total_pages == pager.total_count == len(codes)

    client.sites.delete(renamed_code)
    client.sites.delete(other)
    with pytest.raises(NotFoundError):
        client.sites.get(other)
