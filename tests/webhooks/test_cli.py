"""`opensure webhooks create|list|show|rotate-secret|remove` (SPEC §7) run as an operator runs
them, and `opensure dispatcher` processes delivering: events due when one is killed with
SIGKILL are delivered by another. Both engines; receivers on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from opensure.audit import service as audit
from opensure.db import create_engine
from opensure.dispatch.webhooks import WebhookSender
from opensure.webhooks import service as webhooks
from tests.fixtures.databases import fresh_database
from tests.fixtures.server import OPENSURE, cli_env, run_cli
from tests.webhooks.support import Receiver


@pytest.fixture(params=["sqlite", "postgresql"])
async def cli_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    gen = fresh_database(request.param, tmp_path)
    url = await gen.__anext__()
    yield url
    await gen.aclose()


async def test_webhooks_commands(cli_db: str, tmp_path: Path, receiver: Receiver) -> None:
    async def cli(*args: str):  # type: ignore[no-untyped-def]
        return await run_cli(*args, db_url=cli_db, cwd=tmp_path)

    acme = (await cli("accounts", "create", "Acme", "--json")).json()
    refused = await cli("webhooks", "create", "--account", "Acme", "--url", receiver.url)
    assert refused.returncode == 1
    assert "127.0.0.1, a loopback address" in refused.stderr
    assert "--allow-private-network" in refused.stderr
    bad = await cli(
        "webhooks", "create", "--account", "Acme", "--url", receiver.url, "--events", "nope"
    )
    assert bad.returncode == 1 and "Unknown event type 'nope'" in bad.stderr

    made = (
        await cli(
            "webhooks",
            "create",
            "--account",
            "Acme",
            "--url",
            receiver.url,
            "--events",
            "feedback_response.created,feedback_request.sent",
            "--allow-private-network",
            "--json",
        )
    ).json()
    assert set(made) >= {"id", "url", "secret"}
    assert made["url"] == receiver.url and made["secret"].startswith("whsec_")
    assert made["events"] == ["feedback_response.created", "feedback_request.sent"]

    listed = (await cli("webhooks", "list", "--account", "Acme", "--json")).json()
    assert [(e["id"], e["failing"], e["failure_reason"]) for e in listed] == [
        (made["id"], False, None)
    ]
    assert "secret" not in listed[0]
    shown = (await cli("webhooks", "show", str(made["id"]), "--json")).json()
    assert shown["url"] == receiver.url and "secret" not in shown
    assert shown["deliveries"] == [] and shown["pending_events"] == 0

    rotated = (await cli("webhooks", "rotate-secret", str(made["id"]), "--json")).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != made["secret"]

    engine = create_engine(cli_db)
    try:
        # Events written now are signed with both secrets (by an in-process dispatcher here;
        # the dispatcher processes are the next test's).
        async with engine.begin() as conn:
            await webhooks.emit(conn, acme["id"], "feedback_response.created", {"id": 5})
        await asyncio.wait_for(WebhookSender(engine).drain(), 30)
        (hit,) = receiver.hits
        for secret in (made["secret"], rotated["secret"]):
            assert Webhook(secret).verify(hit.body, hit.headers)["data"] == {"id": 5}

        removed = await cli("webhooks", "remove", str(made["id"]))
        assert removed.returncode == 0, removed.describe()
        assert (await cli("webhooks", "list", "--account", "Acme", "--json")).json() == []
        again = await cli("webhooks", "remove", str(made["id"]))
        assert again.returncode == 1
        assert f"There is no webhook endpoint {made['id']}." in again.stderr

        async with engine.connect() as conn:
            rows = await audit.events(conn, acme["id"])
    finally:
        await engine.dispose()
    actions = [e["action"] for e in rows]
    assert actions[:3] == ["webhook.removed", "webhook.secret_rotated", "webhook.created"]
    assert "whsec_" not in repr(rows)
    assert all(e["via"] == "cli" for e in rows[:3])


async def wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def dispatcher(db_url: str, cwd: Path) -> asyncio.subprocess.Process:
    env = cli_env(
        db_url,
        OPENSURE_WEBHOOK_LEASE_SECONDS="2",
        OPENSURE_DISPATCH_INTERVAL="0.2",
        OPENSURE_MAIL_URL=f"maildir:{cwd / 'outbox'}",
    )
    return await asyncio.create_subprocess_exec(
        OPENSURE,
        "dispatcher",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
async def test_a_dispatcher_killed_with_sigkill_loses_no_event(cli_db: str, tmp_path: Path) -> None:
    # The first request hangs: the first dispatcher is killed in the middle of a delivery,
    # with its other claimed events not yet sent.
    receiver = Receiver(hang_first=20)
    receiver.start()
    try:
        made = await run_cli("accounts", "create", "Acme", "--json", db_url=cli_db, cwd=tmp_path)
        account_id = made.json()["id"]
        engine = create_engine(cli_db)
        try:
            async with engine.begin() as conn:
                endpoint = await webhooks.create_endpoint(
                    conn, account_id, url=receiver.url, allow_private_network=True
                )
                sent = []
                for n in range(20):
                    data = {"n": n}
                    sent += await webhooks.emit(conn, account_id, "feedback_request.sent", data)
            first = await dispatcher(cli_db, tmp_path)
            try:
                await wait_for(lambda: len(receiver.hits) >= 1, 30)
            finally:
                os.kill(first.pid, signal.SIGKILL)
                await first.wait()
            second = await dispatcher(cli_db, tmp_path)
            try:
                # Until every event is recorded delivered: those the first dispatcher posted
                # but had not recorded when it died come again too.
                deadline = time.monotonic() + 60
                while True:
                    async with engine.connect() as conn:
                        shown = await webhooks.show_endpoint(conn, account_id, endpoint["id"])
                    if shown["pending_events"] == 0:
                        break
                    assert time.monotonic() < deadline, "timed out"
                    await asyncio.sleep(0.1)
            finally:
                second.send_signal(signal.SIGTERM)
                await asyncio.wait_for(second.wait(), 30)
        finally:
            await engine.dispose()
    finally:
        receiver.stop()
    assert shown["pending_events"] == 0
    # The one in flight when the first dispatcher died came again, with its webhook-id.
    assert [h.id for h in receiver.hits].count(receiver.hits[0].id) == 2
    bodies = [Webhook(endpoint["secret"]).verify(h.body, h.headers) for h in receiver.hits]
    assert sorted({b["data"]["n"] for b in bodies}) == list(range(20))
