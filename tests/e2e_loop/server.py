"""``opensure serve`` sending through an SMTP server of the test's own, quickly dispatching.

tests/fixtures/server.py starts servers that write mail to a Maildir with the default dispatch
interval; the customer loop needs real SMTP and a short interval, so it starts its own process
the same way (same environment rules, same start and stop) with those two settings changed.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from opensure.accounts import service as admin
from opensure.db import create_engine
from opensure.surveys import importer
from tests.fixtures.server import (
    OPENSURE,
    ApiAccount,
    OpenSureServer,
    _wait_listening,
    cli_env,
    free_port,
    stop_server,
)

START_TIMEOUT = 30.0


@asynccontextmanager
async def serve_with_smtp(
    kind: str, db_url: str, workdir: Path, smtp_port: int
) -> AsyncIterator[OpenSureServer]:
    """``opensure serve`` on a free port, mailing through 127.0.0.1:``smtp_port``."""
    server = _spawn(kind, db_url, workdir, smtp_port)
    try:
        await _wait_listening(server, START_TIMEOUT)
        yield server
    finally:
        stop_server(server)


def _spawn(kind: str, db_url: str, workdir: Path, smtp_port: int) -> OpenSureServer:
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = workdir / "serve.out", workdir / "serve.err"
    out, err = stdout_path.open("wb"), stderr_path.open("wb")
    env = cli_env(
        db_url,
        OPENSURE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        OPENSURE_MAIL_URL=f"smtp://127.0.0.1:{smtp_port}?timeout=5",
        OPENSURE_MAIL_FROM="feedback@opensure.test",
        OPENSURE_DISPATCH_INTERVAL="0.2",
    )
    # cwd: a folder of its own, so that no stray .env file changes its settings.
    process = subprocess.Popen(
        [OPENSURE, "serve", "--port", str(port), "--no-access-log", "--no-demo"],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        env=env,
        cwd=workdir,
    )
    return OpenSureServer(
        kind, db_url, port, workdir, process, stdout_path, stderr_path, [out, err]
    )


async def create_account(db_url: str, name: str, survey: dict[str, Any]) -> ApiAccount:
    """An account with a token and one survey, written as `opensure accounts create` does."""
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            account = await admin.create_account(conn, name, 0)
            imported = await importer.import_survey(conn, account["id"], survey)
    finally:
        await engine.dispose()
    return ApiAccount(id=account["id"], name=name, token=account["token"], survey=imported)
