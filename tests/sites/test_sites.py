"""Sites (seed "Sites", SPEC §4): create, retrieve, update, replace, delete and validation."""

from __future__ import annotations

import pytest

from tests.conftest import BASE, Account
from tests.sites.helpers import JSON_CT, create_site, error_for, errors_of, site

HQ = {
    "site_code": "hq",
    "name": "Head Office",
    "city": "Newcastle",
    "region": "Tyne and Wear",
    "country_code": "UK",
}


# ---- create ----------------------------------------------------------------------------------


async def test_create_answers_201_with_the_site_as_in_the_seed(account: Account) -> None:
    r = await account.post("/sites", json=HQ)
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == JSON_CT
    assert r.json() == HQ
    assert r.headers["location"] == f"{BASE}/sites/hq"
    got = await account.get("/sites/hq")
    assert got.status_code == 200
    assert got.headers["content-type"] == JSON_CT
    assert got.json() == HQ


async def test_create_with_only_the_required_fields_shows_blanks_as_null(
    account: Account,
) -> None:
    r = await account.post("/sites", json={"site_code": "min", "name": "Minimal"})
    assert r.status_code == 201, r.text
    assert r.json() == site("min", "Minimal")
    assert (await account.get("/sites/min")).json() == site("min", "Minimal")


async def test_create_requires_site_code_and_name(account: Account) -> None:
    r = await account.post("/sites", json={"city": "Leeds"})
    assert errors_of(r) == [
        ("/sites/", "name", "required"),
        ("/sites/", "site_code", "required"),
    ]
    r = await account.post("/sites", json={"site_code": "", "name": "  "})
    assert errors_of(r) == [
        ("/sites/", "name", "required"),
        ("/sites/", "site_code", "required"),
    ]
    r = await account.post("/sites", json={"site_code": None, "name": "x"})
    assert errors_of(r) == [("/sites/", "site_code", "required")]
    assert (await account.get("/sites")).json() == []


VALID_CODES = ["a", "A-Z_a.z~0-9", "x" * 50, "Site.01", "~", "123", "...", ".hidden"]
INVALID_CODES = ["a b", "a/b", "caf\u00e9", "a+b", "a@b", "a%20b", "hq?x", "a#b", "tab\tx", "a,b"]


async def test_site_code_accepts_url_safe_characters_up_to_50(account: Account) -> None:
    for code in VALID_CODES:
        r = await account.post("/sites", json={"site_code": code, "name": "N"})
        assert r.status_code == 201, (code, r.text)
        assert r.json()["site_code"] == code
        got = await account.get(f"/sites/{code}")
        assert got.status_code == 200, code
        assert got.json()["site_code"] == code
    assert len((await account.get("/sites")).json()) == len(VALID_CODES)


async def test_site_code_with_other_characters_is_invalid_format(account: Account) -> None:
    for code in INVALID_CODES:
        r = await account.post("/sites", json={"site_code": code, "name": "N"})
        assert errors_of(r) == [("/sites/", "site_code", "invalid_format")], code
        assert "valid_format" in error_for(r, "site_code")["extra_info"]
    assert (await account.get("/sites")).json() == []


@pytest.mark.parametrize("code", [".", ".."])
async def test_dot_segments_are_not_site_codes(account: Account, code: str) -> None:
    """ "." and ".." cannot be a URL segment: clients resolve /sites/.. to /, so such a site
    could never be read, updated or deleted."""
    r = await account.post("/sites", json={"site_code": code, "name": "N"})
    assert errors_of(r) == [("/sites/", "site_code", "invalid_format")]
    await create_site(account, site_code="s", name="S")
    r = await account.patch("/sites/s", json={"site_code": code})
    assert errors_of(r) == [("/sites/s", "site_code", "invalid_format")]
    assert (await account.get("/sites")).json() == [site("s", "S")]


async def test_site_code_longer_than_50_is_wrong_length(account: Account) -> None:
    r = await account.post("/sites", json={"site_code": "x" * 51, "name": "N"})
    assert errors_of(r) == [("/sites/", "site_code", "wrong_length")]
    assert error_for(r, "site_code")["extra_info"] == {"maximum": "50"}


async def test_duplicate_site_code_is_a_custom_error_with_a_message(account: Account) -> None:
    await create_site(account, site_code="dup", name="First")
    r = await account.post("/sites", json={"site_code": "dup", "name": "Second"})
    assert errors_of(r) == [("/sites/", "site_code", "custom")]
    message = error_for(r, "site_code")["extra_info"]["message"]
    assert isinstance(message, str) and message.strip()
    assert (await account.get("/sites/dup")).json()["name"] == "First"
    # Codes are case-sensitive URL segments: another case is another site.
    await create_site(account, site_code="DUP", name="Upper")
    assert (await account.get("/sites/dup")).json()["name"] == "First"
    assert (await account.get("/sites/DUP")).json()["name"] == "Upper"


async def test_site_codes_are_unique_per_account_only(
    account: Account, other_account: Account
) -> None:
    await create_site(account, site_code="shared", name="Mine")
    r = await other_account.post("/sites", json={"site_code": "shared", "name": "Theirs"})
    assert r.status_code == 201, r.text
    assert (await account.get("/sites/shared")).json()["name"] == "Mine"
    assert (await other_account.get("/sites/shared")).json()["name"] == "Theirs"


async def test_country_code_is_case_insensitive_and_stored_upper_case(
    account: Account,
) -> None:
    pairs = [("GB", "GB"), ("gb", "GB"), ("us", "US"), ("Fr", "FR"), ("UK", "UK"), ("uk", "UK")]
    for i, (given, stored) in enumerate(pairs):
        body = {"site_code": f"c{i}", "name": "N", "region": "R", "country_code": given}
        r = await account.post("/sites", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["country_code"] == stored
        assert (await account.get(f"/sites/c{i}")).json()["country_code"] == stored


async def test_unknown_country_code_is_rejected(account: Account) -> None:
    for code in ["XX", "ZZ", "A1", "12"]:
        body = {"site_code": "c", "name": "N", "region": "R", "country_code": code}
        r = await account.post("/sites", json=body)
        assert errors_of(r) == [("/sites/", "country_code", "invalid_value")], code
    # Not two letters at all: invalid, whichever code says so.
    for code in ["GBR", "G", "United Kingdom"]:
        body = {"site_code": "c", "name": "N", "region": "R", "country_code": code}
        r = await account.post("/sites", json=body)
        assert [e["field"] for e in r.json()["errors"]] == ["country_code"], code
        assert error_for(r, "country_code")["error"] in ("invalid_value", "wrong_length")
    assert (await account.get("/sites")).json() == []


async def test_region_is_required_when_country_code_is_given(account: Account) -> None:
    r = await account.post("/sites", json={"site_code": "c", "name": "N", "country_code": "GB"})
    assert errors_of(r) == [("/sites/", "region", "required")]
    r = await account.post(
        "/sites", json={"site_code": "c", "name": "N", "country_code": "GB", "region": ""}
    )
    assert errors_of(r) == [("/sites/", "region", "required")]
    # Region alone is fine.
    r = await account.post("/sites", json={"site_code": "c", "name": "N", "region": "North"})
    assert r.status_code == 201, r.text
    assert r.json() == site("c", "N", region="North")


@pytest.mark.parametrize("field", ["name", "city", "region"])
async def test_long_text_fields_are_wrong_length(account: Account, field: str) -> None:
    body = {"site_code": "c", "name": "N", "region": "R", field: "x" * 201}
    r = await account.post("/sites", json=body)
    assert errors_of(r) == [("/sites/", field, "wrong_length")]
    assert error_for(r, field)["extra_info"] == {"maximum": "200"}
    ok = await account.post("/sites", json={**body, field: "y" * 200})
    assert ok.status_code == 201, ok.text
    assert ok.json()[field] == "y" * 200


async def test_every_error_is_reported_at_once(account: Account) -> None:
    body = {"site_code": "bad code", "name": "", "city": "x" * 201, "country_code": "XX"}
    r = await account.post("/sites", json=body)
    assert errors_of(r) == [
        ("/sites/", "city", "wrong_length"),
        ("/sites/", "country_code", "invalid_value"),
        ("/sites/", "name", "required"),
        ("/sites/", "region", "required"),
        ("/sites/", "site_code", "invalid_format"),
    ]


async def test_unpermitted_parameters_are_403_naming_them(account: Account) -> None:
    r = await account.post("/sites", json={**HQ, "postcode": "NE1", "id": 4})
    assert r.status_code == 403
    assert "postcode" in r.json()["message"]
    assert "id" in r.json()["message"]
    assert (await account.get("/sites/hq")).status_code == 404


# ---- retrieve --------------------------------------------------------------------------------


async def test_unknown_site_is_404(account: Account) -> None:
    r = await account.get("/sites/nowhere")
    assert r.status_code == 404
    assert r.json() == {"message": "Not Found"}


async def test_other_accounts_sites_are_404(account: Account, other_account: Account) -> None:
    await create_site(other_account, **HQ)
    assert (await account.get("/sites/hq")).status_code == 404
    r = await account.patch("/sites/hq", json={"name": "Mine now"})
    assert r.status_code == 404
    assert (await account.delete("/sites/hq")).status_code == 404
    assert (await other_account.get("/sites/hq")).json() == HQ


# ---- update ----------------------------------------------------------------------------------


async def test_patch_changes_only_the_given_fields(account: Account) -> None:
    await create_site(account, **HQ)
    r = await account.patch("/sites/hq", json={"name": "Main Office"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == JSON_CT
    assert r.json() == {**HQ, "name": "Main Office"}
    assert (await account.get("/sites/hq")).json() == {**HQ, "name": "Main Office"}


async def test_patch_with_every_field(account: Account) -> None:
    await create_site(account, **HQ)
    body = {
        "site_code": "hq",
        "name": "Paris",
        "city": "Paris",
        "region": "IDF",
        "country_code": "fr",
    }
    r = await account.patch("/sites/hq", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {**body, "country_code": "FR"}


async def test_patch_with_an_empty_body_changes_nothing(account: Account) -> None:
    await create_site(account, **HQ)
    r = await account.patch("/sites/hq", json={})
    assert r.status_code == 200, r.text
    assert r.json() == HQ


async def test_patch_can_clear_optional_fields(account: Account) -> None:
    await create_site(account, **HQ)
    r = await account.patch("/sites/hq", json={"city": None, "country_code": None})
    assert r.status_code == 200, r.text
    assert r.json() == {**HQ, "city": None, "country_code": None}


async def test_patch_errors_name_the_site_path(account: Account) -> None:
    await create_site(account, **HQ)
    r = await account.patch(
        "/sites/hq", json={"name": None, "city": "x" * 201, "site_code": "no way"}
    )
    assert errors_of(r) == [
        ("/sites/hq", "city", "wrong_length"),
        ("/sites/hq", "name", "required"),
        ("/sites/hq", "site_code", "invalid_format"),
    ]
    assert (await account.get("/sites/hq")).json() == HQ


async def test_patch_country_code_needs_a_region(account: Account) -> None:
    await create_site(account, site_code="s", name="S")
    r = await account.patch("/sites/s", json={"country_code": "DE"})
    assert errors_of(r) == [("/sites/s", "region", "required")]
    r = await account.patch("/sites/s", json={"country_code": "de", "region": "Bayern"})
    assert r.status_code == 200, r.text
    assert r.json() == site("s", "S", region="Bayern", country_code="DE")
    # The rule binds requests that specify a country: a sync client that sends only
    # name/city/region (here an empty region) keeps working on a site that has one.
    r = await account.patch("/sites/s", json={"name": "S", "region": None})
    assert r.status_code == 200, r.text
    assert r.json() == site("s", "S", region=None, country_code="DE")


async def test_patch_rejects_bad_country_and_unpermitted_fields(account: Account) -> None:
    await create_site(account, **HQ)
    r = await account.patch("/sites/hq", json={"country_code": "QQ"})
    assert errors_of(r) == [("/sites/hq", "country_code", "invalid_value")]
    r = await account.patch("/sites/hq", json={"name": "X", "manager": "Kate"})
    assert r.status_code == 403
    assert "manager" in r.json()["message"]
    assert (await account.get("/sites/hq")).json() == HQ


async def test_patch_to_a_code_in_use_is_a_custom_error(account: Account) -> None:
    await create_site(account, site_code="a", name="A")
    await create_site(account, site_code="b", name="B")
    r = await account.patch("/sites/a", json={"site_code": "b"})
    assert errors_of(r) == [("/sites/a", "site_code", "custom")]
    assert error_for(r, "site_code")["extra_info"]["message"]
    assert (await account.get("/sites/a")).json() == site("a", "A")
    assert (await account.get("/sites/b")).json() == site("b", "B")


async def test_patch_unknown_site_is_404(account: Account) -> None:
    r = await account.patch("/sites/ghost", json={"name": "Ghost"})
    assert r.status_code == 404
    assert (await account.get("/sites/ghost")).status_code == 404


# ---- replace (PUT) ---------------------------------------------------------------------------


async def test_put_creates_a_missing_site(account: Account) -> None:
    body = {"name": "Leeds", "city": "Leeds", "region": "Yorkshire", "country_code": "gb"}
    r = await account.put("/sites/leeds", json=body)
    assert r.status_code == 201, r.text
    assert r.json() == site("leeds", "Leeds", "Leeds", "Yorkshire", "GB")
    assert (await account.get("/sites/leeds")).json() == r.json()


async def test_put_replaces_every_field_and_clears_omitted_ones(account: Account) -> None:
    await create_site(account, **HQ)
    r = await account.put("/sites/hq", json={"name": "Replaced"})
    assert r.status_code == 200, r.text
    assert r.json() == site("hq", "Replaced")
    assert (await account.get("/sites/hq")).json() == site("hq", "Replaced")
    r = await account.put("/sites/hq", json={"site_code": "hq", "name": "Again", "city": "York"})
    assert r.status_code == 200, r.text
    assert r.json() == site("hq", "Again", city="York")


async def test_put_validates_like_create(account: Account) -> None:
    r = await account.put("/sites/new", json={"city": "x" * 201, "country_code": "GB"})
    assert errors_of(r) == [
        ("/sites/", "city", "wrong_length"),
        ("/sites/", "name", "required"),
        ("/sites/", "region", "required"),
    ]
    assert (await account.get("/sites/new")).status_code == 404
    await create_site(account, **HQ)
    r = await account.put("/sites/hq", json={"city": "Leeds"})
    assert errors_of(r) == [("/sites/hq", "name", "required")]
    assert (await account.get("/sites/hq")).json() == HQ


async def test_put_with_another_site_code_in_the_body_is_rejected(account: Account) -> None:
    await create_site(account, **HQ)
    r = await account.put("/sites/hq", json={"site_code": "elsewhere", "name": "X"})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["site_code"]
    assert (await account.get("/sites/hq")).json() == HQ
    assert (await account.get("/sites/elsewhere")).status_code == 404


async def test_put_at_an_invalid_code_is_rejected(account: Account) -> None:
    r = await account.put("/sites/" + "x" * 51, json={"name": "Long"})
    assert errors_of(r) == [("/sites/", "site_code", "wrong_length")]
    r = await account.put("/sites/a%20b", json={"name": "Space"})
    assert errors_of(r) == [("/sites/", "site_code", "invalid_format")]
    assert (await account.get("/sites")).json() == []


async def test_put_creates_in_its_own_account_only(
    account: Account, other_account: Account
) -> None:
    await create_site(other_account, **HQ)
    r = await account.put("/sites/hq", json={"name": "Mine"})
    assert r.status_code == 201, r.text
    assert (await other_account.get("/sites/hq")).json() == HQ
    assert (await account.get("/sites/hq")).json() == site("hq", "Mine")


# ---- delete ----------------------------------------------------------------------------------


async def test_delete_then_404(account: Account) -> None:
    await create_site(account, **HQ)
    await create_site(account, site_code="keep", name="Keep")
    r = await account.delete("/sites/hq")
    assert r.status_code == 204
    assert r.content == b""
    assert (await account.get("/sites/hq")).status_code == 404
    assert (await account.patch("/sites/hq", json={"name": "x"})).status_code == 404
    assert (await account.delete("/sites/hq")).status_code == 404
    assert (await account.get("/sites")).json() == [site("keep", "Keep")]
    # The code is free again.
    r = await account.post("/sites", json={"site_code": "hq", "name": "Reborn"})
    assert r.status_code == 201, r.text
    assert (await account.get("/sites/hq")).json() == site("hq", "Reborn")


async def test_delete_unknown_site_is_404(account: Account) -> None:
    assert (await account.delete("/sites/ghost")).status_code == 404


async def test_delete_keeps_the_linked_feedback_request(account: Account) -> None:
    await create_site(account, **HQ)
    body = {
        "email": "kate@example.com",
        "send_at": "2099-01-01T09:00:00Z",
        "survey_id": account.survey_id,
        "data": [{"key": "site_code", "value": "hq"}, {"key": "ticket", "value": "42"}],
    }
    created = await account.post("/feedback_requests", json=body)
    assert created.status_code == 201, created.text
    assert (await account.delete("/sites/hq")).status_code == 204
    r = await account.get(f"/feedback_requests/{created.json()['id']}")
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "kate@example.com"
    assert [(d["key"], d["value"]) for d in r.json()["data"]] == [
        ("site_code", "hq"),
        ("ticket", "42"),
    ]
