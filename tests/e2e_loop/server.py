"""``opensure serve`` sending through an SMTP server of the test's own, quickly dispatching."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from opensure.accounts import service as admin
from opensure.db import create_engine
from opensure.surveys import importer
from tests.fixtures.server import ApiAccount, OpenSureServer, start_server, stop_server


@asynccontextmanager
async def serve_with_smtp(
    kind: str, db_url: str, workdir: Path, smtp_port: int
) -> AsyncIterator[OpenSureServer]:
    """``opensure serve`` on a free port, mailing through 127.0.0.1:``smtp_port``."""
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, before the server)
    server = await start_server(
        kind,
        db_url,
        workdir,
        ["--no-demo"],
        env={
            "OPENSURE_MAIL_URL": f"smtp://127.0.0.1:{smtp_port}?timeout=5",
            "OPENSURE_MAIL_FROM": "feedback@opensure.test",
            "OPENSURE_DISPATCH_INTERVAL": "0.2",
        },
    )
    try:
        yield server
    finally:
        stop_server(server)


async def create_account(db_url: str, name: str, survey: dict[str, Any]) -> ApiAccount:
    """An account with a token and one survey, written as `opensure accounts create` does."""
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            account = await admin.create_account(conn, name, 0)
            imported = await importer.import_survey(conn, account["id"], survey)
    finally:
        await engine.dispose()
    return ApiAccount(
        id=account["id"], name=name, token=account["token"], survey=imported, template={}
    )
