"""The server's memory while it streams GET /app/responses.csv of a million responses.

    .venv/bin/python -m bench.export_rss [--engine sqlite|postgresql] [--responses 1000000]

Builds one account with a million responses (PostgreSQL: bench.scale's data, on
OPENSURE_BENCH_POSTGRES_URL; SQLite: the same shape by SQL, every third response with a
comment), starts a real `opensure serve`, signs a console user in through the form, then
downloads the export while sampling the server's resident memory (VmRSS of /proc/PID/status,
every 50 ms). Issue 13 asks for less than 50 MiB of growth.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import asyncpg
import httpx

from bench.harness import PG_ADMIN, ROOT, cli, free_port, wait_port
from bench.scale import SURVEY, generate

PASSWORD = "a long password for the benchmark"


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert found, status
    return int(found[1]) / 1024


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.05)


SQLITE_FILL = [
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) "
    "INSERT INTO feedback_responses (account_id, survey_id, email, name, reference, "
    "submitted_at, updated_at) SELECT {account}, {survey}, 'c' || i || '@example.com', "
    "'Customer ' || i, 'T-' || i, strftime('%Y-%m-%d %H:%M:%S', '2025-01-01', "
    "'+' || (i * 30) || ' seconds') || '.000000', '2026-12-01 00:00:00.000000' FROM n",
    "INSERT INTO answers (feedback_response_id, question_id, value, rating) "
    "SELECT id, {nps}, CAST(id % 11 AS TEXT), id % 11 FROM feedback_responses",
    "INSERT INTO answers (feedback_response_id, question_id, value) "
    "SELECT id, {text}, 'Comment number ' || id || ', about the refund and the delivery' "
    "FROM feedback_responses WHERE id % 3 = 0",
]


def fill_sqlite(url: str, account: int, survey: dict[str, object], n: int) -> None:
    questions = survey["questions"]
    assert isinstance(questions, list)
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    with db:
        for statement in SQLITE_FILL:
            db.execute(
                statement.format(
                    n=n,
                    account=account,
                    survey=survey["id"],
                    nps=questions[0]["id"],
                    text=questions[1]["id"],
                )
            )
    db.close()


async def main_async(args: argparse.Namespace) -> None:
    name = f"bench_export_{secrets.token_hex(4)}"
    if args.engine == "postgresql":
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/{name}.db"
    port = free_port()
    env = {
        **os.environ,
        "OPENSURE_DATABASE_URL": url,
        "OPENSURE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "OPENSURE_MAIL_URL": "maildir:" + tempfile.mkdtemp(),
    }
    exe = str(ROOT / ".venv/bin/opensure")
    server = None
    try:
        subprocess.run([exe, "migrate"], env=env, check=True, capture_output=True)
        account = cli(env, "accounts", "create", "Export")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(SURVEY, f)
        survey = cli(env, "surveys", "import", "--account", "Export", f.name)
        question = survey["questions"][0]["id"]  # type: ignore[index]
        t0 = time.perf_counter()
        if args.engine == "postgresql":
            await generate(
                url, int(account["id"]), int(survey["id"]), int(question), args.responses
            )  # type: ignore[arg-type]
        else:
            fill_sqlite(url, int(account["id"]), survey, args.responses)  # type: ignore[arg-type]
        print(
            f"generated {args.responses:,} responses in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        email = "export@example.com"
        subprocess.run(
            [exe, "users", "create", "--account", "Export", "--email", email, "--password-stdin"],
            env=env,
            input=PASSWORD + "\n",
            text=True,
            check=True,
            capture_output=True,
        )
        server = subprocess.Popen(
            [exe, "serve", "--port", str(port), "--no-access-log", "--no-demo", "--no-dispatcher"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            form = client.get("/app/sign-in").text
            fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
            fields.update(email=email, password=PASSWORD)
            signed = client.post("/app/sign-in", data=fields)
            assert signed.status_code == 303, signed.text
            assert client.get("/app/").status_code == 200  # warm: templates, statements
            before = rss_mib(server.pid)
            sampler = Sampler(server.pid)
            sampler.start()
            started = time.perf_counter()
            rows = size = 0
            with client.stream("GET", "/app/responses.csv") as response:
                assert response.status_code == 200
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    rows += chunk.count(b"\n")
            seconds = time.perf_counter() - started
            sampler.stop.set()
            sampler.join()
        print(f"exported {rows - 1:,} rows, {size / 2**20:.0f} MiB in {seconds:.1f} s")
        print(
            f"server RSS: {before:.0f} MiB before, {sampler.peak:.0f} MiB at most while "
            f"exporting: growth {sampler.peak - before:.1f} MiB"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        if args.engine == "postgresql" and not args.keep:
            admin = await asyncpg.connect(PG_ADMIN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
        elif args.engine == "postgresql":
            print(f"kept database {name}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
