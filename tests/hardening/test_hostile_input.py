"""Hostile input: each a clear JSON error in the API's format, never a 500, nothing half-stored."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from opensure.models import FeedbackRequest, FeedbackRequestItem
from tests.conftest import Account

FUTURE = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def valid(account: Account, **extra: object) -> dict[str, object]:
    return {"email": "kate@example.com", "send_at": FUTURE, "survey_id": account.survey_id, **extra}


async def stored(app: FastAPI, account: Account) -> tuple[int, int]:
    fr, item = FeedbackRequest.__table__, FeedbackRequestItem.__table__
    async with app.state.engine.connect() as conn:
        requests = (
            await conn.execute(select(func.count()).where(fr.c.account_id == account.id))
        ).scalar_one()
        items = (
            await conn.execute(
                select(func.count())
                .select_from(item.join(fr, fr.c.id == item.c.feedback_request_id))
                .where(fr.c.account_id == account.id)
            )
        ).scalar_one()
    return int(requests), int(items)


def json_error(r: object, status: int) -> dict[str, object]:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"] == "application/json; charset=utf-8"  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert isinstance(body["message"], str) and body["message"]
    return body  # type: ignore[no-any-return]


async def test_a_body_over_one_mebibyte_is_413(app: FastAPI, account: Account) -> None:
    big = b'{"email": "' + b"a" * (1024 * 1024) + b'"}'
    r = await account.post(
        "/feedback_requests", content=big, headers={"Content-Type": "application/json"}
    )
    json_error(r, 413)
    assert await stored(app, account) == (0, 0)


async def test_json_nested_ten_thousand_deep_is_400(account: Account) -> None:
    deep = b"[" * 10_000 + b"]" * 10_000
    r = await account.post(
        "/feedback_requests", content=deep, headers={"Content-Type": "application/json"}
    )
    assert json_error(r, 400)["message"].startswith("Problems parsing JSON")


async def test_invalid_utf8_is_400(account: Account) -> None:
    r = await account.post(
        "/feedback_requests",
        content=b'{"email": "k\xffte@example.com"}',
        headers={"Content-Type": "application/json"},
    )
    json_error(r, 400)


async def test_nul_bytes_in_strings_are_422(app: FastAPI, account: Account) -> None:
    r = await account.post(
        "/feedback_requests",
        json=valid(account, first_name="Ka\x00te", data=[{"key": "a\x00", "value": "b"}]),
    )
    body = json_error(r, 422)
    assert {e["field"] for e in body["errors"]} == {"first_name", "data[0].key"}  # type: ignore[index,union-attr]
    assert await stored(app, account) == (0, 0)


@pytest.mark.parametrize("raw", ["99999999999999999999999999", "9223372036854775808", "-1", "1e3"])
async def test_ids_far_beyond_64_bits_are_404_in_paths(account: Account, raw: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        r = await account.request(
            method, f"/feedback_requests/{raw}", json={} if method == "PATCH" else None
        )
        json_error(r, 404)


async def test_ids_and_pages_far_beyond_64_bits_are_422_in_parameters(account: Account) -> None:
    huge = "9" * 40
    r = await account.post("/feedback_requests", json=valid(account, survey_id=int(huge)))
    assert json_error(r, 422)["errors"][0]["field"] == "survey_id"  # type: ignore[index]
    r = await account.get(f"/feedback_requests?survey_ids[]={huge}")
    json_error(r, 422)
    r = await account.get(f"/feedback_requests?page={huge}")
    json_error(r, 422)
    r = await account.get(f"/feedback_requests?per_page={huge}")
    assert r.status_code == 200  # "values over 100 are treated as 100"


async def test_more_than_fifty_data_items_is_422_and_stores_nothing(
    app: FastAPI, account: Account
) -> None:
    items = [{"key": f"k{i}", "value": "v"} for i in range(51)]
    r = await account.post("/feedback_requests", json=valid(account, data=items))
    [error] = json_error(r, 422)["errors"]  # type: ignore[misc]
    assert (error["field"], error["error"], error["extra_info"]) == (
        "data",
        "wrong_length",
        {"maximum": "50"},
    )
    assert await stored(app, account) == (0, 0)


async def test_sql_and_html_lookalikes_are_stored_verbatim(account: Account) -> None:
    hostile = {
        "first_name": "Robert'); DROP TABLE feedback_requests;--",
        "surname": "<script>alert(1)</script>",
        "reference": '" OR 1=1 --',
    }
    r = await account.post("/feedback_requests", json=valid(account, **hostile))
    assert r.status_code == 201, r.text
    got = (await account.get(f"/feedback_requests/{r.json()['id']}")).json()
    assert {k: got[k] for k in hostile} == hostile
    assert (await account.get("/feedback_requests")).status_code == 200


@pytest.mark.parametrize(
    ("address", "accepted"),
    [
        ("kate@bücher.example", True),
        ("用户@例子.广告", True),
        ("kate@@example.com", False),
        ("kate@example..com", False),
    ],
)
async def test_internationalised_addresses_as_the_validator_allows(
    account: Account, address: str, accepted: bool
) -> None:
    r = await account.post("/feedback_requests", json=valid(account, email=address))
    if accepted:
        assert r.status_code == 201, r.text
        assert r.json()["email"] == address
    else:
        assert json_error(r, 422)["errors"][0]["error"] == "invalid_format"  # type: ignore[index]


async def test_tokens_never_appear_in_logs(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await account.post("/feedback_requests", json=valid(account))
    await account.get("/feedback_requests/999999")
    await account.get("/nope")
    assert account.token not in caplog.text
