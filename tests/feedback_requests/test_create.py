"""POST /feedback_requests: the seed's example and every validation rule of SPEC §4."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi import FastAPI

from tests.api.helpers import JSON_CT, UTC_FORMAT, create_request, iso, request_body
from tests.conftest import BASE, Account
from tests.feedback_requests.helpers import add_survey, add_template, delete_survey

Y = dt.date.today().year + 1
COLLECTION = "/feedback_requests/"
SEED_KEYS = {
    "id",
    "email",
    "state",
    "first_name",
    "surname",
    "survey_id",
    "email_template_id",
    "reference",
    "machine_id",
    "send_at",
    "sent_at",
    "created_at",
    "updated_at",
    "not_sent_reason",
    "delivery_failure",
    "data",
}
SEED_DATA = [
    {"key": "staff_code", "value": "luke"},
    {"key": "site_code", "value": "newcastle"},
    {"key": "category", "value": "api-support"},
    {"key": "ticket_date", "value": "20th Aug 2014"},
]


def seed_request(account: Account) -> dict[str, Any]:
    return {
        "email": "john.smith@example.com",
        "send_at": f"{Y}-08-20T18:00:00+0100",
        "survey_id": account.survey_id,
        "first_name": "John",
        "surname": "Smith",
        "reference": "#1041",
        "machine_id": "8736245",
        "data": SEED_DATA,
    }


async def post_errors(account: Account, body: dict[str, Any]) -> list[dict[str, Any]]:
    r = await account.post("/feedback_requests", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == JSON_CT
    out = r.json()
    assert out["message"] == "Validation error"
    assert set(out) == {"message", "errors"}
    for error in out["errors"]:
        assert set(error) == {"resource", "field", "error", "extra_info"}
        assert error["resource"] == COLLECTION
    return out["errors"]


def only(errors: list[dict[str, Any]]) -> tuple[str, str, dict[str, Any]]:
    assert len(errors) == 1, errors
    return errors[0]["field"], errors[0]["error"], errors[0]["extra_info"]


async def assert_nothing_created(account: Account) -> None:
    r = await account.get("/feedback_requests")
    assert r.json() == []


# ---- The seed's example ----------------------------------------------------------------------


async def test_seed_example(account: Account) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    r = await account.post("/feedback_requests", json=seed_request(account))
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == JSON_CT
    body = r.json()
    assert set(body) == SEED_KEYS | {"deletion_requested_at", "query_params", "reminder_sent_at"}
    assert body["reminder_sent_at"] is None
    assert isinstance(body["id"], int)
    assert r.headers["location"] == f"{BASE}/feedback_requests/{body['id']}"
    expected = {
        "email": "john.smith@example.com",
        "state": "pending",
        "first_name": "John",
        "surname": "Smith",
        "survey_id": account.survey_id,
        "email_template_id": None,
        "reference": "#1041",
        "machine_id": "8736245",
        "send_at": f"{Y}-08-20T17:00:00Z",
        "sent_at": None,
        "not_sent_reason": None,
        "delivery_failure": None,
        "deletion_requested_at": None,
        "query_params": [],
    }
    assert {k: body[k] for k in expected} == expected
    assert isinstance(body["survey_id"], int)
    for name in ("created_at", "updated_at"):
        assert UTC_FORMAT.match(body[name])
        moment = dt.datetime.strptime(body[name], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        assert before <= moment <= dt.datetime.now(dt.UTC)
    assert [{"key": d["key"], "value": d["value"]} for d in body["data"]] == SEED_DATA
    ids = [d["id"] for d in body["data"]]
    assert all(isinstance(i, int) for i in ids)
    assert len(set(ids)) == 4
    for item in body["data"]:
        assert set(item) == {"id", "key", "value"}
    fetched = await account.get(f"/feedback_requests/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_only_required_fields(account: Account) -> None:
    send_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=3)
    body = await create_request(account, send_at=iso(send_at))
    assert body["send_at"] == iso(send_at)
    for name in (
        "first_name",
        "surname",
        "email_template_id",
        "reference",
        "machine_id",
        "sent_at",
        "not_sent_reason",
        "delivery_failure",
        "deletion_requested_at",
    ):
        assert name in body and body[name] is None, name
    assert body["data"] == []
    assert body["query_params"] == []
    assert body["state"] == "pending"


async def test_ids_are_distinct(account: Account) -> None:
    a = await create_request(account)
    b = await create_request(account)
    assert a["id"] != b["id"]


async def test_query_params_are_accepted_and_returned(account: Account) -> None:
    body = await create_request(
        account,
        data=[{"key": "category", "value": "billing"}],
        query_params=[{"key": "utm_source", "value": "api"}, {"key": "lang", "value": "fr"}],
    )
    assert [(q["key"], q["value"]) for q in body["query_params"]] == [
        ("utm_source", "api"),
        ("lang", "fr"),
    ]
    assert [(d["key"], d["value"]) for d in body["data"]] == [("category", "billing")]
    assert all(isinstance(q["id"], int) for q in body["query_params"])
    fetched = (await account.get(f"/feedback_requests/{body['id']}")).json()
    assert fetched["query_params"] == body["query_params"]
    assert fetched["data"] == body["data"]


async def test_numeric_strings_for_ids(account: Account) -> None:
    body = await create_request(account, survey_id=str(account.survey_id))
    assert body["survey_id"] == account.survey_id


async def test_email_is_kept_as_given(account: Account) -> None:
    body = await create_request(account, email="Kate.Smith+tag@Example.COM")
    assert body["email"] == "Kate.Smith+tag@Example.COM"


# ---- required --------------------------------------------------------------------------------


async def test_required_fields(account: Account) -> None:
    errors = await post_errors(account, {})
    assert sorted((e["field"], e["error"], str(e["extra_info"])) for e in errors) == [
        ("email", "required", "{}"),
        ("send_at", "required", "{}"),
        ("survey_id", "required", "{}"),
    ]
    await assert_nothing_created(account)


async def test_empty_body_is_all_required(account: Account) -> None:
    r = await account.post("/feedback_requests", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert sorted(e["field"] for e in r.json()["errors"]) == ["email", "send_at", "survey_id"]


@pytest.mark.parametrize("blank", [None, "", "   "])
async def test_blank_required_fields(account: Account, blank: Any) -> None:
    errors = await post_errors(account, {"email": blank, "send_at": blank, "survey_id": blank})
    assert sorted((e["field"], e["error"]) for e in errors) == [
        ("email", "required"),
        ("send_at", "required"),
        ("survey_id", "required"),
    ]


@pytest.mark.parametrize("missing", ["email", "send_at", "survey_id"])
async def test_each_required_field(account: Account, missing: str) -> None:
    body = request_body(account)
    del body[missing]
    assert only(await post_errors(account, body)) == (missing, "required", {})


# ---- email -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "kate",
        "kate@",
        "@example.com",
        "kate@example",
        "kate smith@example.com",
        "kate@@example.com",
        "kate@exa mple.com",
        "kate@.example.com",
        "kate.@example.com",
        "ka..te@example.com",
        12345,
    ],
)
async def test_malformed_email_is_invalid_format(account: Account, email: Any) -> None:
    field, error, extra = only(await post_errors(account, request_body(account, email=email)))
    assert (field, error) == ("email", "invalid_format")
    pattern = re.compile(extra["valid_format"])
    assert pattern.search("john.smith@example.com")
    assert set(extra) == {"valid_format"}
    await assert_nothing_created(account)


def email_of_length(n: int) -> str:
    # Valid syntax: a 64-character local part and 63-character labels.
    domain_len = n - 65
    labels = []
    while domain_len > 63 + 1 + 4:
        labels.append("d" * 63)
        domain_len -= 64
    labels.append("e" * (domain_len - 4) + ".com")
    return "a" * 64 + "@" + ".".join(labels)


async def test_email_of_254_characters_is_accepted(account: Account) -> None:
    email = email_of_length(254)
    assert len(email) == 254
    body = await create_request(account, email=email)
    assert body["email"] == email


async def test_email_longer_than_254_is_wrong_length(account: Account) -> None:
    email = email_of_length(255)
    assert len(email) == 255
    assert only(await post_errors(account, request_body(account, email=email))) == (
        "email",
        "wrong_length",
        {"maximum": "254"},
    )
    long_junk = "x" * 300
    assert only(await post_errors(account, request_body(account, email=long_junk)))[:2] == (
        "email",
        "wrong_length",
    )


# ---- string lengths --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "maximum"),
    [("first_name", 100), ("surname", 100), ("reference", 100), ("machine_id", 36)],
)
async def test_string_length_limits(account: Account, field: str, maximum: int) -> None:
    ok = await create_request(account, **{field: "é" * maximum})
    assert ok[field] == "é" * maximum
    errors = await post_errors(account, request_body(account, **{field: "x" * (maximum + 1)}))
    assert only(errors) == (field, "wrong_length", {"maximum": str(maximum)})


async def test_all_length_errors_at_once(account: Account) -> None:
    body = request_body(
        account,
        email="a" * 255,
        first_name="f" * 101,
        surname="s" * 101,
        reference="r" * 101,
        machine_id="m" * 37,
    )
    errors = await post_errors(account, body)
    assert sorted((e["field"], e["error"], e["extra_info"]["maximum"]) for e in errors) == [
        ("email", "wrong_length", "254"),
        ("first_name", "wrong_length", "100"),
        ("machine_id", "wrong_length", "36"),
        ("reference", "wrong_length", "100"),
        ("surname", "wrong_length", "100"),
    ]
    await assert_nothing_created(account)


# ---- data and query_params -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["data", "query_params"])
async def test_item_length_limits(account: Account, kind: str) -> None:
    ok = await create_request(account, **{kind: [{"key": "k" * 30, "value": "v" * 100}]})
    assert [(d["key"], d["value"]) for d in ok[kind]] == [("k" * 30, "v" * 100)]
    items = [{"key": "k" * 31, "value": "fine"}, {"key": "fine", "value": "v" * 101}]
    errors = await post_errors(account, request_body(account, **{kind: items}))
    assert sorted((e["field"], e["error"], e["extra_info"]) for e in errors) == [
        (f"{kind}[0].key", "wrong_length", {"maximum": "30"}),
        (f"{kind}[1].value", "wrong_length", {"maximum": "100"}),
    ]


@pytest.mark.parametrize("kind", ["data", "query_params"])
async def test_at_most_50_items(account: Account, kind: str) -> None:
    items = [{"key": f"k{i}", "value": str(i)} for i in range(50)]
    ok = await create_request(account, **{kind: items})
    assert [d["key"] for d in ok[kind]] == [f"k{i}" for i in range(50)]
    items.append({"key": "k50", "value": "50"})
    assert only(await post_errors(account, request_body(account, **{kind: items}))) == (
        kind,
        "wrong_length",
        {"maximum": "50"},
    )


async def test_item_key_and_value_are_required(account: Account) -> None:
    items = [{"value": "no key"}, {"key": "no_value"}, {"key": "", "value": "x"}]
    errors = await post_errors(account, request_body(account, data=items))
    assert sorted((e["field"], e["error"]) for e in errors) == [
        ("data[0].key", "required"),
        ("data[1].value", "required"),
        ("data[2].key", "required"),
    ]


@pytest.mark.parametrize("data", ["staff_code=luke", {"key": "a", "value": "b"}, 5])
async def test_data_must_be_an_array(account: Account, data: Any) -> None:
    field, error, _ = only(await post_errors(account, request_body(account, data=data)))
    assert (field, error) == ("data", "invalid_value")


async def test_data_entries_must_be_objects(account: Account) -> None:
    errors = await post_errors(
        account, request_body(account, data=["x", {"key": "a", "value": "b"}])
    )
    assert [(e["field"], e["error"]) for e in errors] == [("data[0]", "invalid_value")]


async def test_data_item_ids_are_not_taken_on_create(account: Account) -> None:
    r = await account.post(
        "/feedback_requests", json=request_body(account, data=[{"id": 1, "key": "a", "value": "b"}])
    )
    assert r.status_code == 403
    assert "data[0].id" in r.json()["message"]


async def test_data_values_may_repeat_keys_in_order(account: Account) -> None:
    body = await create_request(
        account, data=[{"key": "tag", "value": "a"}, {"key": "tag", "value": "b"}]
    )
    assert [(d["key"], d["value"]) for d in body["data"]] == [("tag", "a"), ("tag", "b")]


# ---- send_at ---------------------------------------------------------------------------------


@pytest.mark.parametrize("minutes_ago", [1, 5, 60, 23 * 60])
async def test_send_at_recently_past_is_accepted(account: Account, minutes_ago: int) -> None:
    send_at = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=minutes_ago)
    body = await create_request(account, send_at=iso(send_at))
    assert body["send_at"] == iso(send_at)
    assert body["state"] == "pending"


@pytest.mark.parametrize("hours_ago", [25, 24 * 30, 24 * 365 * 10])
async def test_send_at_older_than_a_day_is_invalid_date(account: Account, hours_ago: int) -> None:
    now = dt.datetime.now(dt.UTC)
    send_at = now - dt.timedelta(hours=hours_ago)
    field, error, extra = only(
        await post_errors(account, request_body(account, send_at=iso(send_at)))
    )
    assert (field, error) == ("send_at", "invalid_date")
    assert set(extra) == {"minimum"}
    assert UTC_FORMAT.match(extra["minimum"])
    minimum = dt.datetime.strptime(extra["minimum"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert abs(minimum - (now - dt.timedelta(hours=24))) < dt.timedelta(minutes=1)
    await assert_nothing_created(account)


async def test_send_at_past_in_another_timezone(account: Account) -> None:
    # 30 hours ago, written as local time in +10:00: still older than a day.
    local = dt.datetime.now(dt.timezone(dt.timedelta(hours=10))) - dt.timedelta(hours=30)
    errors = await post_errors(
        account, request_body(account, send_at=local.strftime("%Y-%m-%dT%H:%M:%S+10:00"))
    )
    assert only(errors)[:2] == ("send_at", "invalid_date")


# ---- survey_id and email_template_id ---------------------------------------------------------


@pytest.mark.parametrize("survey_id", [999_999_999, 0, -1, "abc", 1.5, True, [1], 2**64])
async def test_bad_survey_id_is_invalid_value(account: Account, survey_id: Any) -> None:
    field, error, _ = only(await post_errors(account, request_body(account, survey_id=survey_id)))
    assert (field, error) == ("survey_id", "invalid_value")


async def test_survey_of_another_account_is_invalid_value(
    account: Account, other_account: Account
) -> None:
    errors = await post_errors(account, request_body(account, survey_id=other_account.survey_id))
    assert only(errors)[:2] == ("survey_id", "invalid_value")
    await assert_nothing_created(account)
    await assert_nothing_created(other_account)


async def test_deleted_survey_is_invalid_value(app: FastAPI, account: Account) -> None:
    survey_id = await add_survey(app, account)
    await delete_survey(app, survey_id)
    errors = await post_errors(account, request_body(account, survey_id=survey_id))
    assert only(errors)[:2] == ("survey_id", "invalid_value")


async def test_second_survey_of_the_account(app: FastAPI, account: Account) -> None:
    survey_id = await add_survey(app, account)
    body = await create_request(account, survey_id=survey_id)
    assert body["survey_id"] == survey_id


async def test_own_email_template(app: FastAPI, account: Account) -> None:
    template_id = await add_template(app, account)
    body = await create_request(account, email_template_id=template_id)
    assert body["email_template_id"] == template_id
    body = await create_request(account, email_template_id=None)
    assert body["email_template_id"] is None


async def test_email_template_of_another_account_is_invalid_value(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    theirs = await add_template(app, other_account)
    errors = await post_errors(account, request_body(account, email_template_id=theirs))
    assert only(errors)[:2] == ("email_template_id", "invalid_value")


@pytest.mark.parametrize("template_id", [999_999_999, 0, "x"])
async def test_unknown_email_template_is_invalid_value(account: Account, template_id: Any) -> None:
    errors = await post_errors(account, request_body(account, email_template_id=template_id))
    assert only(errors)[:2] == ("email_template_id", "invalid_value")


# ---- everything at once ----------------------------------------------------------------------


async def test_every_error_in_one_response(
    app: FastAPI, account: Account, other_account: Account
) -> None:
    theirs = await add_template(app, other_account)
    body = {
        "email": "not-an-email",
        "send_at": iso(dt.datetime.now(dt.UTC) - dt.timedelta(days=3)),
        "survey_id": other_account.survey_id,
        "email_template_id": theirs,
        "first_name": "f" * 101,
        "machine_id": "m" * 37,
        "data": [{"key": "k" * 31, "value": "ok"}, {"key": "ok", "value": "v" * 101}],
        "query_params": [{"key": "q"}],
    }
    errors = await post_errors(account, body)
    assert sorted((e["field"], e["error"]) for e in errors) == [
        ("data[0].key", "wrong_length"),
        ("data[1].value", "wrong_length"),
        ("email", "invalid_format"),
        ("email_template_id", "invalid_value"),
        ("first_name", "wrong_length"),
        ("machine_id", "wrong_length"),
        ("query_params[0].value", "required"),
        ("send_at", "invalid_date"),
        ("survey_id", "invalid_value"),
    ]
    await assert_nothing_created(account)


async def test_string_fields_reject_objects(account: Account) -> None:
    errors = await post_errors(
        account, request_body(account, first_name={"a": 1}, surname=["b"], reference=True)
    )
    assert sorted((e["field"], e["error"]) for e in errors) == [
        ("first_name", "invalid_value"),
        ("reference", "invalid_value"),
        ("surname", "invalid_value"),
    ]
