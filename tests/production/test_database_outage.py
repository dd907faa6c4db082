"""`opensure serve --no-dispatcher --workers 2` while PostgreSQL restarts under load: every
answer is a 2xx or a 503 with a JSON message (never a 500 or a hang), /readyz says 503 while
the database is away, and everything recovers by itself once it is back. Also the probes,
/metrics and X-Request-Id of that server."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.databases import PG_ENV, skip_or_fail
from tests.fixtures.server import OpenSureServer, start_server, stop_server
from tests.production.support import (
    START_ENV,
    STOP_ENV,
    PostgresControl,
    make_account,
    postgres_control,
)

pytestmark = pytest.mark.production

CLIENT_TIMEOUT = 10.0
CLIENTS = 4
DOWN_SECONDS = 2.0
RECOVERY_SECONDS = 5.0  # after PostgreSQL takes connections again
STEADY_SECONDS = 2.0  # of load after recovery, all of which must succeed


@dataclass(frozen=True)
class Outcome:
    started: float
    ended: float
    what: str
    status: int | None  # None: no HTTP answer at all (timeout, connection error)
    detail: str


@pytest.fixture
async def postgres(pg_url: str) -> AsyncIterator[PostgresControl]:
    """Control of the PostgreSQL server; whatever happens, it is running again afterwards."""
    control = postgres_control(os.environ[PG_ENV])
    if control is None:
        skip_or_fail(
            f"cannot stop and start the PostgreSQL server at {PG_ENV} from here "
            f"(no local pg_ctlcluster cluster we may control; set {STOP_ENV} and {START_ENV})"
        )
        return
    try:
        yield control
    finally:
        await control.ensure_running()


def z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(outcome: Outcome) -> str:
    return f"{outcome.what} -> {outcome.status}: {outcome.detail[:300]}"


async def test_api_answers_503_while_postgresql_restarts_and_recovers_by_itself(
    pg_url: str, pg_engine: AsyncEngine, postgres: PostgresControl, tmp_path: Path
) -> None:
    account = await make_account(pg_engine)
    await pg_engine.dispose()  # hold no connection of ours across the restart
    server = await start_server(
        "postgresql", pg_url, tmp_path, ["--no-dispatcher", "--workers", "2"]
    )
    outcomes: list[Outcome] = []
    readiness: list[Outcome] = []
    stop = asyncio.Event()

    async def call(api: httpx.AsyncClient, what: str, into: list[Outcome]) -> None:
        method, path = what.split(" ", 1)
        started = time.monotonic()
        try:
            if method == "POST":
                r = await api.post(
                    path,
                    json={
                        "email": f"load-{len(into)}@example.com",
                        "send_at": z(dt.datetime.now(dt.UTC) + dt.timedelta(days=1)),
                        "survey_id": account.survey_id,
                    },
                )
            else:
                r = await api.get(path)
        except httpx.HTTPError as exc:
            into.append(Outcome(started, time.monotonic(), what, None, repr(exc)))
            return
        into.append(Outcome(started, time.monotonic(), what, r.status_code, r.text))

    async def load(api: httpx.AsyncClient, n: int) -> None:
        i = n
        while not stop.is_set():
            i += 1
            what = "POST /feedback_requests" if i % 2 else "GET /feedback_requests?per_page=5"
            await call(api, what, outcomes)
            await asyncio.sleep(0.01)

    async def probe(api: httpx.AsyncClient) -> None:
        while not stop.is_set():
            await call(api, "GET /readyz", readiness)
            await asyncio.sleep(0.1)

    try:
        async with httpx.AsyncClient(
            base_url=server.base_url, timeout=CLIENT_TIMEOUT, headers=account.headers
        ) as api:
            await both_workers_serving(server)
            deadline = time.monotonic() + 30
            while (await api.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, server.stderr()
                await asyncio.sleep(0.2)
            await check_probes(api)

            tasks = [asyncio.create_task(load(api, n)) for n in range(CLIENTS)]
            tasks.append(asyncio.create_task(probe(api)))
            try:
                await asyncio.sleep(1.5)
                stopping = time.monotonic()
                try:
                    await asyncio.to_thread(postgres.stop)
                    down = time.monotonic()
                    await asyncio.sleep(DOWN_SECONDS)
                finally:
                    starting = time.monotonic()
                    await asyncio.to_thread(postgres.start)
                up = time.monotonic()
                # Keep the load on until recovered and then steady for a while.
                recovered = None
                while time.monotonic() < up + RECOVERY_SECONDS + STEADY_SECONDS:
                    await asyncio.sleep(0.1)
                    if recovered is None:
                        recovered = first_steady_success(outcomes, up)
                    elif time.monotonic() > recovered + STEADY_SECONDS:
                        break
            finally:
                stop.set()
                await asyncio.gather(*tasks)

            # After the outage: ready, and the API works.
            r = await api.get("/readyz")
            assert r.status_code == 200, r.text
            assert r.json() == {"status": "ok", "database": "ok"}
            metrics = (await api.get("/metrics")).text
    finally:
        code = stop_server(server)
    assert code == 0, server.stderr()[-5000:]

    statuses = Counter(o.status for o in outcomes)
    print(
        f"\nPostgreSQL stopped in {down - stopping:.1f} s, down {DOWN_SECONDS} s; "
        f"{len(outcomes)} API calls: {dict(statuses)}; "
        f"readyz: {dict(Counter(o.status for o in readiness))}; "
        f"recovered {(recovered or float('nan')) - up:.2f} s after PostgreSQL was back"
    )
    # Nothing but 2xx and 503 {"message": ...}: no 500, no hang, no dropped connection.
    bad = [
        o for o in outcomes + readiness if o.status is None or (o.status >= 500 and o.status != 503)
    ]
    assert not bad, "\n".join(describe(o) for o in bad[:20])
    bad = [o for o in outcomes if not (200 <= (o.status or 0) < 300 or o.status == 503)]
    assert not bad, "\n".join(describe(o) for o in bad[:20])
    for o in outcomes:
        if o.status == 503:
            body = httpx.Response(503, text=o.detail).json()
            assert isinstance(body, dict) and isinstance(body.get("message"), str), o.detail
            assert body["message"] and "Traceback" not in o.detail
    assert all(o.ended - o.started < CLIENT_TIMEOUT for o in outcomes + readiness)
    assert statuses[503] > 0, "the outage was not noticed: the test did not test anything"

    # /readyz: 503 while PostgreSQL was down, 200 before and after.
    during = [o for o in readiness if o.started >= down and o.ended <= starting]
    assert during and all(o.status == 503 for o in during), [describe(o) for o in during]
    # Full recovery within a few seconds, and every call after that succeeded.
    assert recovered is not None, "the API did not recover: " + "; ".join(
        describe(o) for o in outcomes[-10:]
    )
    assert recovered - up < RECOVERY_SECONDS
    after = [o for o in outcomes if o.started >= recovered]
    assert len(after) >= 10
    assert all(200 <= (o.status or 0) < 300 for o in after), [describe(o) for o in after]

    # The 503s were counted by route and status, across both worker processes.
    assert (
        'opensure_http_requests_total{method="POST",route="/feedback_requests",status="201"}'
        in (metrics)
    )
    assert 'status="503"' in metrics


async def both_workers_serving(server: OpenSureServer, within: float = 60) -> None:
    """Wait until both worker processes have started serving (a loaded machine can take a
    while, and uvicorn replaces a worker that is slow to answer its health check)."""
    deadline = time.monotonic() + within
    while True:
        log = server.stderr()
        after_last_death = log[log.rfind(" died") :] if " died" in log else log
        if (
            log.count("Application startup complete.") >= 2
            and "Application startup complete." in after_last_death
        ):
            return
        assert time.monotonic() < deadline, log[-3000:]
        await asyncio.sleep(0.1)


def first_steady_success(outcomes: list[Outcome], since: float, run: int = 6) -> float | None:
    """When the calls started after ``since`` began to succeed for good (``run`` in a row)."""
    after = sorted((o for o in outcomes if o.started >= since), key=lambda o: o.started)
    streak_start, streak = None, 0
    for o in after:
        if o.status is not None and 200 <= o.status < 300:
            if streak == 0:
                streak_start = o.started
            streak += 1
        else:
            streak_start, streak = None, 0
    return streak_start if streak >= run else None


async def check_probes(api: httpx.AsyncClient) -> None:
    """/healthz, /readyz, /metrics answer without credentials; X-Request-Id goes both ways."""
    bare = {"User-Agent": "", "Accept": "", "Authorization": ""}
    r = await api.get("/healthz", headers=bare)
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok"}
    r = await api.get("/readyz", headers=bare)
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "database": "ok"}
    r = await api.get("/metrics", headers=bare)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")

    r = await api.get("/feedback_requests", headers={"X-Request-Id": "prod-check-0001"})
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] == "prod-check-0001"
    r = await api.get("/feedback_requests")
    generated = r.headers["x-request-id"]
    assert generated and generated != "prod-check-0001"
    # An unusable id (control characters, too long) is replaced, not echoed.
    r = await api.get("/healthz", headers={"X-Request-Id": "x" * 500})
    assert r.headers["x-request-id"] != "x" * 500
