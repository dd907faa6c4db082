"""A real-world client must work unchanged: a Ruby location-sync script, replayed in Python.

The script, for each location: ``GET /sites/<code>``; a JSON body with a ``message`` key means
"missing", so it POSTs ``site_code, name, city, region`` to ``/sites``; otherwise it PATCHes
the same fields, ``site_code`` included, to ``/sites/<code>``. Every request carries the same
four headers, ``Content-Type`` even on the GET, and the token unquoted.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conftest import Account
from tests.sites.helpers import site


def script_headers(account: Account) -> dict[str, str]:
    return {
        "Accept": "application/vnd.customersure.v1+json",
        "Authorization": f"Token token={account.token}",
        "User-Agent": "Acme Locations Sync",
        "Content-Type": "application/json",
    }


async def sync_locations(
    client: httpx.AsyncClient, account: Account, locations: list[dict[str, Any]]
) -> list[tuple[str, str, int]]:
    """What the script does; returns (verb, code, status) of each write, like its log."""
    headers = script_headers(account)
    log = []
    for loc in locations:
        code = loc["site_code"]
        got = await client.get(f"/sites/{code}", headers=headers)
        fields = {k: loc.get(k) for k in ("site_code", "name", "city", "region")}
        payload = json.dumps(fields)
        if "message" in got.json():
            r = await client.post("/sites", headers=headers, content=payload)
            log.append(("POST", code, r.status_code))
        else:
            r = await client.patch(f"/sites/{code}", headers=headers, content=payload)
            log.append(("PATCH", code, r.status_code))
        assert r.status_code < 300, (code, r.status_code, r.text)
    return log


LOCATIONS = [
    {"site_code": "ncl-01", "name": "Newcastle Quayside", "city": "Newcastle", "region": "NE"},
    {"site_code": "LDS_02", "name": "leeds Central", "city": "Leeds", "region": "Yorkshire"},
    {"site_code": "york.3", "name": "York", "city": "York", "region": None},
    {"site_code": "remote~4", "name": "Remote team", "city": None, "region": None},
    {"site_code": "99", "name": "Aberdeen", "city": "Aberdeen", "region": "Scotland"},
]


async def test_first_run_creates_every_location_second_run_updates(
    client: httpx.AsyncClient, account: Account
) -> None:
    log = await sync_locations(client, account, LOCATIONS)
    assert log == [("POST", loc["site_code"], 201) for loc in LOCATIONS]
    r = await account.get("/sites")
    assert r.json() == [
        site("99", "Aberdeen", "Aberdeen", "Scotland"),
        site("LDS_02", "leeds Central", "Leeds", "Yorkshire"),
        site("ncl-01", "Newcastle Quayside", "Newcastle", "NE"),
        site("remote~4", "Remote team"),
        site("york.3", "York", "York"),
    ]

    changed = [dict(loc) for loc in LOCATIONS]
    changed[0]["name"] = "Newcastle Quayside (closed Mondays)"
    changed[1]["name"] = "Leeds Central"
    changed[2]["region"] = "Yorkshire"
    changed[3]["city"] = "Anywhere"
    changed.append({"site_code": "new-5", "name": "Brand new", "city": "Hull", "region": None})
    log = await sync_locations(client, account, changed)
    assert log == [("PATCH", loc["site_code"], 200) for loc in LOCATIONS] + [("POST", "new-5", 201)]
    r = await account.get("/sites")
    assert r.json() == [
        site("99", "Aberdeen", "Aberdeen", "Scotland"),
        site("new-5", "Brand new", "Hull"),
        site("LDS_02", "Leeds Central", "Leeds", "Yorkshire"),
        site("ncl-01", "Newcastle Quayside (closed Mondays)", "Newcastle", "NE"),
        site("remote~4", "Remote team", "Anywhere"),
        site("york.3", "York", "York", "Yorkshire"),
    ]

    # A third run with nothing changed is all PATCHes and changes nothing.
    log = await sync_locations(client, account, changed)
    assert [entry[0] for entry in log] == ["PATCH"] * len(changed)
    assert (await account.get("/sites")).json() == r.json()


async def test_sync_keeps_a_country_set_elsewhere(
    client: httpx.AsyncClient, account: Account
) -> None:
    """The script does not send country_code, so a country set another way must survive."""
    r = await account.post(
        "/sites",
        json={"site_code": "ncl-01", "name": "Old", "region": "NE", "country_code": "gb"},
    )
    assert r.status_code == 201, r.text
    log = await sync_locations(client, account, LOCATIONS[:1])
    assert log == [("PATCH", "ncl-01", 200)]
    assert (await account.get("/sites/ncl-01")).json() == site(
        "ncl-01", "Newcastle Quayside", "Newcastle", "NE", "GB"
    )


async def test_sync_does_not_touch_other_accounts(
    client: httpx.AsyncClient, account: Account, other_account: Account
) -> None:
    await other_account.post("/sites", json={"site_code": "ncl-01", "name": "Theirs"})
    log = await sync_locations(client, account, LOCATIONS[:1])
    assert log == [("POST", "ncl-01", 201)]
    assert (await other_account.get("/sites/ncl-01")).json() == site("ncl-01", "Theirs")
    assert (await account.get("/sites/ncl-01")).json()["name"] == "Newcastle Quayside"
