"""The metric definitions are written once (opensure.metrics.definitions): every path that counts
must agree with them — the PostgreSQL triggers and rebuild SQL of the rollups, the direct
counts (SQLite, and partial days on PostgreSQL), and the tests."""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections import Counter
from pathlib import Path
from types import ModuleType

from fastapi import FastAPI

import opensure
from opensure.metrics import definitions as d
from tests.conftest import Account
from tests.metrics.data import INSIDE, add_ratings, iso, nps_question

VERSIONS = Path(opensure.__file__).parent / "migrations" / "versions"
MIGRATION = VERSIONS / "20261127_0003_metric_rollups.py"
# 0020 spells the request side of the response rate again (one trigger for three)
REQUEST_COUNTER = VERSIONS / "20261206_0020_one_request_counter_trigger.py"


def _migration(path: Path = MIGRATION) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_band_is_the_published_one() -> None:
    assert [d.band(r) for r in d.SCALE] == ["detractor"] * 7 + ["passive"] * 2 + ["promoter"] * 2


def test_the_rollup_sql_spells_the_definitions() -> None:
    # The migration is frozen: it is checked against the definitions, not built from them.
    m = _migration()
    rebuild_nps = " ".join(m.REBUILD_NPS.split())
    for condition in (d.promoter_sql("a.rating"), d.passive_sql("a.rating")):
        assert f"FILTER (WHERE {condition})" in rebuild_nps
    assert f"FILTER (WHERE {d.detractor_sql('a.rating')})" in rebuild_nps
    rebuild_rate = " ".join(m.REBUILD_RESPONSE_RATE.split())
    assert f"FILTER (WHERE {d.delivered_sql('fr')})" in rebuild_rate
    triggers = " ".join(" ".join(m.TRIGGERS).split())
    for condition in (d.promoter_sql("rating"), d.passive_sql("rating"), d.detractor_sql("rating")):
        assert f"({condition})::int" in triggers
    assert f"({d.delivered_sql('NEW')})::int" in triggers
    assert f"({d.delivered_sql('OLD')})::int" in triggers


def test_the_request_counter_trigger_spells_the_definitions() -> None:
    function = " ".join(_migration(REQUEST_COUNTER).FUNCTION.split())
    for row in ("OLD", "NEW"):
        # delivered; replied = delivered and a response exists
        assert f"({d.delivered_sql(row)})::int" in function
        assert f"({d.delivered_sql(row)} AND has_reply)::int" in function
    assert (
        "has_reply := EXISTS (SELECT 1 FROM feedback_responses WHERE feedback_request_id = NEW.id)"
        in function
    )


async def test_every_rating_lands_in_its_band_on_every_path(app: FastAPI, account: Account) -> None:
    ratings = list(d.SCALE) * 2
    await add_ratings(app, account, nps_question(account), ratings)
    expected = Counter(d.band(r) for r in ratings)
    day = INSIDE.replace(hour=0)
    windows = {
        # whole days: on PostgreSQL, read from the trigger-kept rollups
        "whole days": (day - dt.timedelta(days=1), day + dt.timedelta(days=2, seconds=-1)),
        # a partial day: counted from the answers themselves (the repository's expressions)
        "partial day": (INSIDE - dt.timedelta(hours=1), INSIDE + dt.timedelta(hours=1)),
    }
    for name, (low, high) in windows.items():
        r = await account.get("/nps", params={"from_time": iso(low), "to_time": iso(high)})
        assert r.status_code == 200, name
        body = r.json()
        got = {
            "promoter": body["promoter_count"],
            "passive": body["passive_count"],
            "detractor": body["detractor_count"],
        }
        assert got == dict(expected), name
