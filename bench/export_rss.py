"""The server's memory while it streams GET /app/responses.csv of a million responses.

    .venv/bin/python -m bench.export_rss [--responses 1000000] [--keep]

Builds bench.scale's data (one account, a million requests and responses, on PostgreSQL:
OPENSURE_BENCH_POSTGRES_URL), starts a real `opensure serve`, signs a console user in through
the form, then downloads the export while sampling the server's resident memory (VmRSS of
/proc/PID/status, every 50 ms). Issue 13 asks for less than 50 MiB of growth.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import asyncpg
import httpx

from bench.harness import ROOT, free_port, wait_port
from bench.scale import PG_ADMIN, SURVEY, generate, opensure

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


async def main_async(args: argparse.Namespace) -> None:
    name = f"bench_export_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
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
        account = opensure(env, "accounts", "create", "Export")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(SURVEY, f)
        survey = opensure(env, "surveys", "import", "--account", "Export", f.name)
        question = survey["questions"][0]["id"]  # type: ignore[index]
        t0 = time.perf_counter()
        await generate(url, int(account["id"]), int(survey["id"]), int(question), args.responses)  # type: ignore[arg-type]
        print(f"generated {args.responses:,} responses in {time.perf_counter() - t0:.0f} s")
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
        if not args.keep:
            admin = await asyncpg.connect(PG_ADMIN)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
        else:
            print(f"kept database {name}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
