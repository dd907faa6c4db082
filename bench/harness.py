"""Pieces the benchmarks share: ports, an SMTP sink process, throwaway PostgreSQL databases,
set-up through the `opensure` CLI and per-process figures read from /proc.

Only the standard library is imported at the top: the sink runs this module in its own process
(``python -m bench.harness sink PORT [FILE [--links]]``).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OPENSURE = str(ROOT / ".venv/bin/opensure")
PG_ADMIN = os.environ.get(
    "OPENSURE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
SURVEY = {"name": "Bench", "questions": [{"type": "rating", "text": "How likely?", "nps": True}]}
MEDIA_TYPE = "application/vnd.customersure.v1+json"
MIB = 1024 * 1024


def iso(t: datetime) -> str:
    """A UTC time as the API writes it, to the second."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class Sink:
    """aiosmtpd in its own process, so it doesn't share the GIL with what is measured.

    It accepts every message and discards it. With ``record_to`` it appends one line per message:
    arrival time and Message-ID, and with ``links`` also the survey code and link token found in
    the text part (``-`` when there is none).
    """

    def __init__(self, record_to: Path | None = None, *, links: bool = False) -> None:
        self.port = free_port()
        args = [sys.executable, "-m", "bench.harness", "sink", str(self.port)]
        if record_to is not None:
            args.append(str(record_to))
            if links:
                args.append("--links")
        self.proc = subprocess.Popen(args, cwd=ROOT)
        wait_port(self.port)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def sink_main(argv: list[str]) -> None:
    import email
    import email.policy
    import re
    import signal

    from aiosmtpd.controller import Controller

    port = int(argv[0])
    out = open(argv[1], "a", buffering=1) if len(argv) > 1 else None  # noqa: SIM115
    links = "--links" in argv
    link = re.compile(r"/s/([A-Za-z0-9]+)\?t=([A-Za-z0-9_-]+)")
    sessions = 0

    class Handler:
        async def handle_EHLO(
            self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
        ) -> list[str]:
            nonlocal sessions
            sessions += 1  # clients say EHLO once a connection (again after STARTTLS)
            session.host_name = hostname
            return responses

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if out is None:
                return "250 OK"
            if not links:
                for line in envelope.content.splitlines():
                    if line.lower().startswith(b"message-id:"):
                        out.write(f"{time.time()} {line[11:].strip().decode()}\n")
                        break
                return "250 OK"
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            body = message.get_body(("plain",))
            found = link.search(body.get_content()) if body is not None else None
            code, token = found.groups() if found else ("-", "-")
            out.write(f"{time.time()} {message['Message-ID']} {code} {token}\n")
            return "250 OK"

    # Blocked before the server's thread starts (it inherits the mask), so that sigwait gets
    # them rather than their default action ending the process at once.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    signal.sigwait(stop_signals)
    controller.stop()
    if out is not None:
        Path(argv[1] + ".sessions").write_text(f"{sessions}\n")


# --- throwaway PostgreSQL databases -------------------------------------------------------------


async def create_database(prefix: str, admin_url: str = PG_ADMIN) -> str:
    """A new, empty database on the server of ``admin_url``; returns its URL."""
    import asyncpg

    name = f"{prefix}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def drop_database(url: str, admin_url: str = PG_ADMIN) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


# --- the opensure CLI ----------------------------------------------------------------------------


def opensure_env(**settings: str) -> dict[str, str]:
    """This process's environment without any OPENSURE_* setting, plus ``settings``
    (``database_url="…"`` becomes ``OPENSURE_DATABASE_URL``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSURE_")}
    env.update({f"OPENSURE_{k.upper()}": v for k, v in settings.items()})
    return env


def cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run ``opensure ARGS --json`` and return its JSON answer."""
    done = subprocess.run(
        [OPENSURE, *args, "--json"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"opensure {' '.join(args)}: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def create_account(
    env: dict[str, str], tmp: Path, survey: dict[str, Any] = SURVEY, name: str = "Bench"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An account (with its first token) and a survey, made through the CLI as an operator would."""
    account = cli(env, "accounts", "create", f"{name} {secrets.token_hex(3)}")
    survey_file = tmp / f"survey-{secrets.token_hex(3)}.json"
    survey_file.write_text(json.dumps(survey))
    imported = cli(env, "surveys", "import", "--account", str(account["id"]), str(survey_file))
    return account, imported


def api_headers(token: str) -> dict[str, str]:
    return {"User-Agent": "bench", "Accept": MEDIA_TYPE, "Authorization": f"Token token={token}"}


# --- per-process figures from /proc ---------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def rss_bytes(pid: int) -> int | None:
    """Resident set size (VmRSS), or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of the process (its threads included)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores together."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
        if parent == pid:
            found.append(int(entry))
    return found


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.readlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(fields[9])
    return inodes


def serving_pids(root: int, port: int) -> list[int]:
    """The processes that answer on ``port``: of ``root`` and its descendants, those holding
    the listening socket, without a process whose children hold it too (uvicorn's supervisor
    beside its workers). ``[root]`` when none is found."""
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += _children(pid)
    sockets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    holders = []
    for pid in tree:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except (FileNotFoundError, PermissionError):
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in sockets:
                    holders.append(pid)
                    break
            except OSError:
                continue
    workers = [p for p in holders if not set(_children(p)) & set(holders)]
    return workers or [root]


# --- docs/benchmarks.md ---------------------------------------------------------------------------


def write_marked(doc: Path, start: str, end: str, heading: str, section: str) -> None:
    """Put ``section`` between the markers ``start`` and ``end`` of ``doc``; without them,
    append ``heading`` and the marked section. Text outside the markers is kept."""
    text = doc.read_text()
    block = f"{start}\n{section}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{block}\n"
    doc.write_text(text)


def traced_main(argv: list[str]) -> None:
    """``opensure ARGS`` that traces its allocations on request.

    ``python -m bench.harness traced PREFIX FRAMES ARGS…``: writes PREFIX.ready once it listens
    for SIGUSR1; the first SIGUSR1 starts tracemalloc (FRAMES deep; tracing from the start would
    slow the imports to a crawl), each later one dumps a snapshot to PREFIX-1.snap, -2.snap, …
    """
    import signal
    import tracemalloc

    prefix, frames, rest = argv[0], int(argv[1]), argv[2:]
    signals = 0

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            tracemalloc.start(frames)
            return
        path = Path(f"{prefix}-{signals - 1}.snap")
        tracemalloc.take_snapshot().dump(str(path.with_suffix(".tmp")))
        path.with_suffix(".tmp").rename(path)

    signal.signal(signal.SIGUSR1, on_signal)
    Path(f"{prefix}.ready").touch()
    from opensure.cli import main

    sys.argv = ["opensure", *rest]
    main()


def snapshot_diff(before: Path, after: Path, top: int = 12) -> list[str]:
    """The allocation sites that grew most between two tracemalloc snapshots."""
    import tracemalloc

    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    old = tracemalloc.Snapshot.load(str(before)).filter_traces(ignore)
    new = tracemalloc.Snapshot.load(str(after)).filter_traces(ignore)
    before_size = sum(t.size for t in old.traces)
    after_size = sum(t.size for t in new.traces)
    lines = [
        f"traced: {before_size / MIB:,.1f} MiB then {after_size / MIB:,.1f} MiB "
        f"({(after_size - before_size) / 1024:+,.1f} KiB); the sites that grew most:"
    ]
    for stat in new.compare_to(old, "traceback")[:top]:
        lines.append(
            f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks "
            f"(now {stat.size / 1024:,.1f} KiB)"
        )
        lines += [
            f"      {line}" for line in stat.traceback.format(limit=6, most_recent_first=True)
        ]
    return lines


if __name__ == "__main__":
    if sys.argv[1:2] == ["sink"]:
        sink_main(sys.argv[2:])
    elif sys.argv[1:2] == ["traced"]:
        traced_main(sys.argv[2:])
    else:
        sys.exit(
            "usage: python -m bench.harness sink PORT [FILE [--links]] | traced PREFIX FRAMES ARGS"
        )
