"""feedback_responses.sync(): every new or changed response once, run after run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opensure_client import Checkpoint, ResponseSync

DATE = "Fri, 27 Nov 2026 10:00:00 GMT"  # the server's clock at the start of a run
SERVER_NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _response(api: Any, id: int, updated: str, answer: str = "10") -> dict[str, Any]:
    body: dict[str, Any] = api.feedback_response(id, updated_at=updated)
    body["answers"][0]["answer"] = answer
    return body


def _serve(api: Any, pages: list[list[dict[str, Any]]], date: str = DATE) -> None:
    """The responses list, newest first, in ``pages`` (any query string)."""
    for number, items in enumerate(pages, start=1):
        headers = {"Date": date, "X-Total-Count": "0", "X-Total-Pages": str(len(pages))}
        if number < len(pages):
            headers["Link"] = (
                f'<http://testserver/feedback_responses?page={number + 1}>; rel="next"'
            )
        else:
            headers["Link"] = ""
        path = "/feedback_responses" if number == 1 else f"/feedback_responses?page={number}"
        api.on("GET", path, api.reply(200, items, headers))


def test_first_run_without_checkpoint_exports_everything(api: Any) -> None:
    _serve(
        api,
        [
            [_response(api, 3, "2026-11-27T09:59:30Z"), _response(api, 2, "2026-11-27T09:00:00Z")],
            [_response(api, 1, "2026-11-20T08:00:00Z")],
        ],
    )
    sync = api.client().feedback_responses.sync()
    assert isinstance(sync, ResponseSync)
    with pytest.raises(RuntimeError, match="iterate"):
        _ = sync.checkpoint

    ids = [r.id for r in sync]

    assert ids == [3, 2, 1]
    first = api.requests[0].url.params
    assert "updated_since" not in first
    assert first["per_page"] == "100"
    checkpoint = sync.checkpoint
    # Two minutes before the server's clock at the start; the one response since is remembered.
    assert checkpoint.since == SERVER_NOW - timedelta(minutes=2)
    assert set(checkpoint.seen) == {3}


def test_next_run_asks_from_the_checkpoint_and_skips_what_it_delivered(api: Any) -> None:
    _serve(api, [[_response(api, 3, "2026-11-27T09:59:30Z")]])
    first = api.client().feedback_responses.sync(since=datetime(2026, 11, 1))
    assert [r.id for r in first] == [3]
    assert api.requests[0].url.params["updated_since"] == "2026-11-01T00:00:00Z"

    # Next run: 3 is returned again (inside the overlap) unchanged, 4 is new, 5 is new.
    later = "Fri, 27 Nov 2026 10:05:00 GMT"
    _serve(
        api,
        [
            [_response(api, 5, "2026-11-27T10:04:00Z"), _response(api, 4, "2026-11-27T10:00:00Z")],
            [_response(api, 3, "2026-11-27T09:59:30Z")],
        ],
        later,
    )
    second = api.client().feedback_responses.sync(since=str(first.checkpoint))
    assert [r.id for r in second] == [5, 4]
    assert api.requests[1].url.params["updated_since"] == "2026-11-27T09:58:00Z"
    assert second.checkpoint.since == datetime(2026, 11, 27, 10, 3, tzinfo=UTC)
    assert set(second.checkpoint.seen) == {5}


def test_a_response_changed_in_the_same_second_is_delivered_again(api: Any) -> None:
    _serve(api, [[_response(api, 3, "2026-11-27T09:59:30Z", answer="6")]])
    first = api.client().feedback_responses.sync(since=datetime(2026, 11, 27))
    assert [r.answers[0].answer for r in first] == ["6"]

    # Same updated_at (one-second resolution), different answer: a new version.
    _serve(api, [[_response(api, 3, "2026-11-27T09:59:30Z", answer="9")]])
    second = api.client().feedback_responses.sync(since=first.checkpoint)
    assert [r.answers[0].answer for r in second] == ["9"]

    _serve(api, [[_response(api, 3, "2026-11-27T09:59:30Z", answer="9")]])
    third = api.client().feedback_responses.sync(since=second.checkpoint)
    assert list(third) == []


def test_a_response_shifted_onto_the_next_page_is_delivered_once(api: Any) -> None:
    # A response arriving during the run pushes 2 from page 1 onto page 2.
    _serve(
        api,
        [
            [_response(api, 3, "2026-11-27T09:00:00Z"), _response(api, 2, "2026-11-27T08:00:00Z")],
            [_response(api, 2, "2026-11-27T08:00:00Z"), _response(api, 1, "2026-11-27T07:00:00Z")],
        ],
    )
    assert [r.id for r in api.client().feedback_responses.sync()] == [3, 2, 1]


def test_the_checkpoint_never_moves_back(api: Any) -> None:
    start = Checkpoint(since=datetime(2026, 11, 27, 9, 59))
    _serve(api, [[]])  # the server clock says 10:00; minus the overlap would be 09:58
    sync = api.client().feedback_responses.sync(since=start)
    assert list(sync) == []
    assert sync.checkpoint.since == start.since


def test_without_a_date_header_the_newest_update_is_used(api: Any) -> None:
    api.on(
        "GET",
        "/feedback_responses",
        api.reply(200, [_response(api, 1, "2026-11-27T09:00:00Z")], {"Link": ""}),
    )
    sync = api.client().feedback_responses.sync(overlap=timedelta(seconds=30))
    assert [r.id for r in sync] == [1]
    assert sync.checkpoint.since == datetime(2026, 11, 27, 8, 59, 30, tzinfo=UTC)
    assert set(sync.checkpoint.seen) == {1}


def test_a_sync_is_iterated_once(api: Any) -> None:
    _serve(api, [[]])
    sync = api.client().feedback_responses.sync()
    list(sync)
    with pytest.raises(RuntimeError, match="once"):
        list(sync)


def test_checkpoint_round_trip() -> None:
    checkpoint = Checkpoint(since=datetime(2026, 11, 27, 10, 0, 0, 123), seen={3: "ab", 12: "cd"})
    text = str(checkpoint)
    assert text == '{"v":1,"since":"2026-11-27T10:00:00Z","seen":{"3":"ab","12":"cd"}}'
    assert Checkpoint.parse(text) == checkpoint
    assert Checkpoint.parse(str(Checkpoint())) == Checkpoint()
    assert checkpoint.since is not None and checkpoint.since.tzinfo is UTC


@pytest.mark.parametrize("text", ["", "2026-11-27", '{"v":2}', '{"v":1,"since":"soon"}', "[]"])
def test_a_bad_checkpoint_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="checkpoint"):
        Checkpoint.parse(text)


def test_negative_overlap_is_refused(api: Any) -> None:
    with pytest.raises(ValueError, match="overlap"):
        api.client().feedback_responses.sync(overlap=timedelta(seconds=-1))


async def test_async_sync(async_api: Any) -> None:
    _serve(
        async_api,
        [
            [_response(async_api, 2, "2026-11-27T09:59:00Z")],
            [_response(async_api, 1, "2026-11-27T09:00:00Z")],
        ],
    )
    sync = async_api.async_client().feedback_responses.sync(since=datetime(2026, 11, 27))
    ids = [r.id async for r in sync]
    assert ids == [2, 1]
    assert sync.checkpoint.since == SERVER_NOW - timedelta(minutes=2)
    assert set(sync.checkpoint.seen) == {2}
    with pytest.raises(RuntimeError, match="once"):
        sync.__aiter__()
