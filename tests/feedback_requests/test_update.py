"""PATCH /feedback_requests/:id: partial updates of pending requests, data items by id."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI

from tests.api.helpers import UTC_FORMAT, create_request, iso
from tests.conftest import Account
from tests.feedback_requests.helpers import add_survey, add_template, item_count, set_state

Y = dt.date.today().year + 1


async def patch(account: Account, request_id: int, body: dict[str, Any]) -> dict[str, Any]:
    r = await account.patch(f"/feedback_requests/{request_id}", json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def patch_errors(
    account: Account, request_id: int, body: dict[str, Any]
) -> list[dict[str, Any]]:
    r = await account.patch(f"/feedback_requests/{request_id}", json=body)
    assert r.status_code == 422, r.text
    out = r.json()
    assert out["message"] == "Validation error"
    for error in out["errors"]:
        assert error["resource"] == f"/feedback_requests/{request_id}"
        assert set(error) == {"resource", "field", "error", "extra_info"}
    return out["errors"]


async def current(account: Account, request_id: int) -> dict[str, Any]:
    r = await account.get(f"/feedback_requests/{request_id}")
    assert r.status_code == 200
    return r.json()


async def test_seed_example_update(account: Account) -> None:
    created = await create_request(
        account,
        email="john.smith@example.com",
        first_name="John",
        surname="Smith",
        reference="#1014",
        machine_id="8736245",
        send_at=f"{Y}-08-20T18:00:00+0100",
    )
    updated = await patch(account, created["id"], {"email": "kate@example.com"})
    assert updated["email"] == "kate@example.com"
    unchanged = {k: v for k, v in created.items() if k not in ("email", "updated_at")}
    assert {k: updated[k] for k in unchanged} == unchanged
    assert updated["send_at"] == f"{Y}-08-20T17:00:00Z"
    assert UTC_FORMAT.match(updated["updated_at"])
    assert updated["updated_at"] >= created["updated_at"]
    assert await current(account, created["id"]) == updated


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("first_name", "Kate"),
        ("surname", "Jones"),
        ("reference", "#2"),
        ("machine_id", "abc-123"),
        ("email", "new@example.org"),
    ],
)
async def test_each_field(account: Account, field: str, value: str) -> None:
    created = await create_request(account, first_name="John")
    updated = await patch(account, created["id"], {field: value})
    assert updated[field] == value
    others = {k for k in created if k not in (field, "updated_at")}
    assert {k: updated[k] for k in others} == {k: created[k] for k in others}


async def test_optional_fields_can_be_cleared(app: FastAPI, account: Account) -> None:
    template_id = await add_template(app, account)
    created = await create_request(
        account,
        first_name="John",
        surname="Smith",
        reference="#1",
        machine_id="m1",
        email_template_id=template_id,
    )
    updated = await patch(
        account,
        created["id"],
        {
            "first_name": None,
            "surname": None,
            "reference": None,
            "machine_id": None,
            "email_template_id": None,
        },
    )
    for name in ("first_name", "surname", "reference", "machine_id", "email_template_id"):
        assert updated[name] is None, name


@pytest.mark.parametrize("field", ["email", "send_at", "survey_id"])
async def test_required_fields_cannot_be_cleared(account: Account, field: str) -> None:
    created = await create_request(account)
    errors = await patch_errors(account, created["id"], {field: None})
    assert [(e["field"], e["error"]) for e in errors] == [(field, "required")]
    assert await current(account, created["id"]) == created


async def test_send_at_and_survey(app: FastAPI, account: Account) -> None:
    created = await create_request(account)
    survey_id = await add_survey(app, account)
    template_id = await add_template(app, account)
    soon = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    updated = await patch(
        account,
        created["id"],
        {"send_at": iso(soon), "survey_id": survey_id, "email_template_id": template_id},
    )
    assert updated["send_at"] == iso(soon)
    assert updated["survey_id"] == survey_id
    assert updated["email_template_id"] == template_id


async def test_empty_patch_changes_nothing(account: Account) -> None:
    created = await create_request(account, first_name="John", data=[{"key": "a", "value": "b"}])
    updated = await patch(account, created["id"], {})
    assert {k: v for k, v in updated.items() if k != "updated_at"} == {
        k: v for k, v in created.items() if k != "updated_at"
    }


async def test_all_errors_at_once(app: FastAPI, account: Account, other_account: Account) -> None:
    created = await create_request(account, first_name="John")
    theirs = await add_template(app, other_account)
    errors = await patch_errors(
        account,
        created["id"],
        {
            "email": "nope",
            "send_at": iso(dt.datetime.now(dt.UTC) - dt.timedelta(days=2)),
            "survey_id": other_account.survey_id,
            "email_template_id": theirs,
            "first_name": "f" * 101,
            "surname": "s" * 101,
            "reference": "r" * 101,
            "machine_id": "m" * 37,
            "data": [{"key": "k" * 31, "value": "v"}, {"key": "k", "value": "v" * 101}],
        },
    )
    got = {e["field"]: (e["error"], e["extra_info"]) for e in errors}
    assert set(got) == {
        "email",
        "send_at",
        "survey_id",
        "email_template_id",
        "first_name",
        "surname",
        "reference",
        "machine_id",
        "data[0].key",
        "data[1].value",
    }
    assert got["email"][0] == "invalid_format"
    assert "valid_format" in got["email"][1]
    assert got["send_at"][0] == "invalid_date"
    assert "minimum" in got["send_at"][1]
    assert got["survey_id"][0] == "invalid_value"
    assert got["email_template_id"][0] == "invalid_value"
    assert got["first_name"] == ("wrong_length", {"maximum": "100"})
    assert got["surname"] == ("wrong_length", {"maximum": "100"})
    assert got["reference"] == ("wrong_length", {"maximum": "100"})
    assert got["machine_id"] == ("wrong_length", {"maximum": "36"})
    assert got["data[0].key"] == ("wrong_length", {"maximum": "30"})
    assert got["data[1].value"] == ("wrong_length", {"maximum": "100"})
    # Nothing was applied.
    assert await current(account, created["id"]) == created


async def test_unknown_survey_and_template(account: Account) -> None:
    created = await create_request(account)
    errors = await patch_errors(
        account, created["id"], {"survey_id": 999_999_999, "email_template_id": 999_999_999}
    )
    assert sorted((e["field"], e["error"]) for e in errors) == [
        ("email_template_id", "invalid_value"),
        ("survey_id", "invalid_value"),
    ]


async def test_email_length_on_update(account: Account) -> None:
    created = await create_request(account)
    errors = await patch_errors(account, created["id"], {"email": "a" * 250 + "@x.com"})
    assert [(e["field"], e["error"], e["extra_info"]) for e in errors] == [
        ("email", "wrong_length", {"maximum": "254"})
    ]


# ---- only pending requests -------------------------------------------------------------------


@pytest.mark.parametrize("state", ["sent", "not_sent"])
async def test_patch_on_a_request_that_is_not_pending(
    app: FastAPI, account: Account, state: str
) -> None:
    created = await create_request(account, first_name="John")
    await set_state(app, created["id"], state)
    before = await current(account, created["id"])
    assert before["state"] == state
    r = await account.patch(f"/feedback_requests/{created['id']}", json={"first_name": "Kate"})
    assert r.status_code == 422
    assert r.json() == {
        "message": "Validation error",
        "errors": [
            {
                "resource": f"/feedback_requests/{created['id']}",
                "field": "state",
                "error": "invalid_value",
                "extra_info": {"allowed_values": ["pending"]},
            }
        ],
    }
    assert await current(account, created["id"]) == before


async def test_patch_on_sent_request_with_bad_fields_still_names_state(
    app: FastAPI, account: Account
) -> None:
    created = await create_request(account)
    await set_state(app, created["id"], "sent")
    errors = await patch_errors(account, created["id"], {"email": "bad"})
    assert [(e["field"], e["error"]) for e in errors] == [("state", "invalid_value")]


# ---- data items ------------------------------------------------------------------------------


async def test_data_items_updated_by_id_and_added_without(account: Account) -> None:
    created = await create_request(
        account,
        data=[{"key": "category", "value": "billing"}, {"key": "ticket", "value": "1"}],
    )
    first, second = created["data"]
    updated = await patch(
        account,
        created["id"],
        {
            "data": [
                {"id": first["id"], "value": "support"},
                {"key": "channel", "value": "email"},
            ]
        },
    )
    assert updated["data"][0] == {"id": first["id"], "key": "category", "value": "support"}
    assert updated["data"][1] == second
    assert updated["data"][2]["key"] == "channel"
    assert updated["data"][2]["value"] == "email"
    assert updated["data"][2]["id"] not in (first["id"], second["id"])
    assert len(updated["data"]) == 3
    assert await current(account, created["id"]) == updated


async def test_data_item_key_by_id(account: Account) -> None:
    created = await create_request(account, data=[{"key": "old", "value": "v"}])
    item = created["data"][0]
    updated = await patch(account, created["id"], {"data": [{"id": item["id"], "key": "new"}]})
    assert updated["data"] == [{"id": item["id"], "key": "new", "value": "v"}]
    updated = await patch(
        account, created["id"], {"data": [{"id": str(item["id"]), "key": "k2", "value": "v2"}]}
    )
    assert updated["data"] == [{"id": item["id"], "key": "k2", "value": "v2"}]


async def test_patch_without_data_keeps_items(account: Account) -> None:
    created = await create_request(account, data=[{"key": "a", "value": "b"}])
    updated = await patch(account, created["id"], {"first_name": "Jo"})
    assert updated["data"] == created["data"]
    updated = await patch(account, created["id"], {"data": []})
    assert updated["data"] == created["data"]


async def test_query_params_updated_by_id_and_added(account: Account) -> None:
    created = await create_request(account, query_params=[{"key": "utm", "value": "a"}])
    qp = created["query_params"][0]
    updated = await patch(
        account,
        created["id"],
        {"query_params": [{"id": qp["id"], "value": "b"}, {"key": "lang", "value": "de"}]},
    )
    assert updated["query_params"][0] == {"id": qp["id"], "key": "utm", "value": "b"}
    assert (updated["query_params"][1]["key"], updated["query_params"][1]["value"]) == (
        "lang",
        "de",
    )
    assert updated["data"] == []


async def test_data_item_of_another_request_is_rejected(app: FastAPI, account: Account) -> None:
    mine = await create_request(account, data=[{"key": "a", "value": "1"}])
    other = await create_request(account, data=[{"key": "b", "value": "2"}])
    foreign = other["data"][0]["id"]
    errors = await patch_errors(
        account, mine["id"], {"data": [{"id": foreign, "value": "hijack"}], "first_name": "X"}
    )
    assert [(e["field"], e["error"]) for e in errors] == [("data[0].id", "invalid_value")]
    assert await current(account, other["id"]) == other
    assert await current(account, mine["id"]) == mine
    assert await item_count(app, other["id"]) == 1


async def test_data_item_of_another_account_is_rejected(
    account: Account, other_account: Account
) -> None:
    mine = await create_request(account, data=[{"key": "a", "value": "1"}])
    theirs = await create_request(other_account, data=[{"key": "b", "value": "2"}])
    errors = await patch_errors(
        account, mine["id"], {"data": [{"id": theirs["data"][0]["id"], "value": "x"}]}
    )
    assert [(e["field"], e["error"]) for e in errors] == [("data[0].id", "invalid_value")]
    assert await current(other_account, theirs["id"]) == theirs


@pytest.mark.parametrize("item_id", [999_999_999, 0, -3, "abc", None])
async def test_unknown_data_item_id_is_rejected(account: Account, item_id: Any) -> None:
    created = await create_request(account, data=[{"key": "a", "value": "1"}])
    errors = await patch_errors(
        account, created["id"], {"data": [{"id": item_id, "key": "a", "value": "2"}]}
    )
    assert [e["field"] for e in errors] == ["data[0].id"]
    assert errors[0]["error"] in ("invalid_value", "required")
    assert await current(account, created["id"]) == created


async def test_query_param_id_is_not_a_data_id(account: Account) -> None:
    created = await create_request(account, query_params=[{"key": "utm", "value": "a"}])
    qp_id = created["query_params"][0]["id"]
    errors = await patch_errors(account, created["id"], {"data": [{"id": qp_id, "value": "x"}]})
    assert [(e["field"], e["error"]) for e in errors] == [("data[0].id", "invalid_value")]


async def test_data_item_limits_on_update(account: Account) -> None:
    created = await create_request(account, data=[{"key": "a", "value": "1"}])
    item_id = created["data"][0]["id"]
    errors = await patch_errors(
        account,
        created["id"],
        {"data": [{"id": item_id, "value": "v" * 101}, {"key": "k" * 31, "value": "x"}]},
    )
    assert sorted((e["field"], e["error"], e["extra_info"]) for e in errors) == [
        ("data[0].value", "wrong_length", {"maximum": "100"}),
        ("data[1].key", "wrong_length", {"maximum": "30"}),
    ]


async def test_new_data_item_needs_key_and_value(account: Account) -> None:
    created = await create_request(account)
    errors = await patch_errors(account, created["id"], {"data": [{"key": "k"}, {"value": "v"}]})
    assert sorted((e["field"], e["error"]) for e in errors) == [
        ("data[0].value", "required"),
        ("data[1].key", "required"),
    ]


async def test_more_than_50_items_in_one_patch(account: Account) -> None:
    created = await create_request(account)
    items = [{"key": f"k{i}", "value": "v"} for i in range(51)]
    errors = await patch_errors(account, created["id"], {"data": items})
    assert [(e["field"], e["error"], e["extra_info"]) for e in errors] == [
        ("data", "wrong_length", {"maximum": "50"})
    ]


async def test_a_request_never_holds_more_than_50_items(app: FastAPI, account: Account) -> None:
    created = await create_request(
        account, data=[{"key": f"k{i}", "value": "v"} for i in range(40)]
    )
    errors = await patch_errors(
        account, created["id"], {"data": [{"key": f"n{i}", "value": "v"} for i in range(11)]}
    )
    assert [(e["field"], e["error"], e["extra_info"]) for e in errors] == [
        ("data", "wrong_length", {"maximum": "50"})
    ]
    assert await item_count(app, created["id"]) == 40
    # Exactly 50 is fine.
    updated = await patch(
        account, created["id"], {"data": [{"key": f"n{i}", "value": "v"} for i in range(10)]}
    )
    assert len(updated["data"]) == 50


async def test_unpermitted_item_keys_on_update(account: Account) -> None:
    created = await create_request(account, data=[{"key": "a", "value": "1"}])
    r = await account.patch(
        f"/feedback_requests/{created['id']}",
        json={"data": [{"id": created["data"][0]["id"], "value": "2", "_destroy": True}]},
    )
    assert r.status_code == 403
    assert "_destroy" in r.json()["message"]


# ---- not found -------------------------------------------------------------------------------


@pytest.mark.parametrize("path_id", ["999999999", "abc", "0", "-1", "1.0", "99999999999999999999"])
async def test_patch_unknown_is_404(account: Account, path_id: str) -> None:
    r = await account.patch(f"/feedback_requests/{path_id}", json={"first_name": "X"})
    assert r.status_code == 404
    assert r.json() == {"message": "Not Found"}


async def test_patch_other_accounts_request_is_404(
    account: Account, other_account: Account
) -> None:
    theirs = await create_request(other_account, first_name="Theirs")
    r = await account.patch(f"/feedback_requests/{theirs['id']}", json={"first_name": "Mine"})
    assert r.status_code == 404
    assert r.json() == {"message": "Not Found"}
    assert (await current(other_account, theirs["id"]))["first_name"] == "Theirs"
