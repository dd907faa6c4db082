"""Where an OpenSure worker spends its time under load: py-spy on ``opensure serve``.

    .venv/bin/pip install py-spy
    .venv/bin/python -m bench.profile [--backend sqlite|postgresql] [--endpoint get|post|list]
                                      [--seconds 10] [--top 25] [--out DIR]

Sets up a fresh database like ``bench.api``, starts one ``opensure serve`` worker, drives the
endpoint with wrk and samples the worker with ``py-spy record --format raw`` meanwhile. Prints
the functions with the most samples on the event-loop thread, by own time and including
callees, as percentages of that thread's busy samples; ``--out`` keeps the collapsed stacks
(for flamegraph.pl or speedscope). Sampling slows the server: its req/s are not benchmarks.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import api

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    m = FRAME.match(frame)
    if m is None:
        return frame
    path = m["file"]
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m['func']} ({path})"


# Where a sample's time goes, by what its stack holds; the first matching rule wins.
CATEGORIES: list[tuple[str, Callable[[list[str]], bool]]] = []


def _any(stack: list[str], *needles: str) -> bool:
    return any(n in frame for frame in stack for n in needles)


def _rule(name: str) -> Callable[[Callable[[list[str]], bool]], Callable[[list[str]], bool]]:
    def register(test: Callable[[list[str]], bool]) -> Callable[[list[str]], bool]:
        CATEGORIES.append((name, test))
        return test

    return register


@_rule("connection checkout/checkin (pool, pre-ping, isolation level, reset)")
def _pool(stack: list[str]) -> bool:
    return _any(
        stack,
        "sqlalchemy/pool/",
        "do_ping",
        "isolation_level",
        "_reset_characteristics",
        "AsyncConnection.start ",
        "AsyncConnection.close ",
        "Connection.close (sqlalchemy/engine",
    )


@_rule("driver calls (aiosqlite thread hops / asyncpg protocol)")
def _driver(stack: list[str]) -> bool:
    return _any(stack, "aiosqlite/", "asyncpg/", "dialects/sqlite/aiosqlite", "postgresql/asyncpg")


@_rule("SQLAlchemy execute: cache key, compile cache, params, result rows")
def _execute(stack: list[str]) -> bool:
    return _any(stack, "sqlalchemy/engine/", "sqlalchemy/sql/cache_key", "greenlet_spawn")


@_rule("building SQL statements (select()/insert() per call)")
def _build(stack: list[str]) -> bool:
    return "sqlalchemy/" in stack[-1] or _any(stack[-1:], "sqlalchemy generated")


@_rule("email validation (email_validator)")
def _email(stack: list[str]) -> bool:
    return _any(stack, "email_validator/")


@_rule("RequestContext middleware (request id, Prometheus metrics)")
def _observe(stack: list[str]) -> bool:
    return _any(stack[-1:], "api/context", "telemetry", "prometheus_client/") or _any(
        stack[-2:], "uuid.py"
    )


@_rule("ApiGate middleware (headers, token cache, rate limit)")
def _gate(stack: list[str]) -> bool:
    return _any(stack[-2:], "api/negotiation", "api/ratelimit", "hashlib")


@_rule("FastAPI/Starlette: routing, dependencies, thread pool, responses")
def _framework(stack: list[str]) -> bool:
    return _any(stack[-1:], "fastapi/", "starlette/", "anyio/", "sniffio/", "contextlib.py")


@_rule("OpenSure code: parsing, validation, JSON shaping")
def _opensure(stack: list[str]) -> bool:
    return _any(stack[-1:], "opensure/", "orjson", "datetime")


@_rule("uvicorn HTTP protocol (httptools)")
def _uvicorn(stack: list[str]) -> bool:
    return _any(stack[-1:], "uvicorn/", "httptools")


@_rule("event loop (uvloop: sockets, wake-ups from driver threads) and the rest")
def _rest(stack: list[str]) -> bool:
    return True


def breakdown(stacks: list[tuple[list[str], int]]) -> collections.Counter[str]:
    shares: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        name = next(name for name, test in CATEGORIES if test(frames))
        shares[name] += count
    return shares


def summarize(raw: str, top: int) -> str:
    """Own and inclusive sample shares per function, for the thread with the most samples."""
    by_thread: dict[str, list[tuple[list[str], int]]] = collections.defaultdict(list)
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        thread = "main"
        if frames[0].startswith("thread ("):
            # "thread (1234): MainThread" → "MainThread"; aiosqlite names its threads Thread-N.
            thread = re.sub(r"^Thread-\d+ ", "", frames.pop(0).split(": ", 1)[-1])
        frames = [short(f) for f in frames if not f.startswith("process ")]
        if frames:
            by_thread[thread].append((frames, int(count)))
    if not by_thread:
        return "no samples"
    totals = {t: sum(c for _, c in stacks) for t, stacks in by_thread.items()}
    out = ["samples per thread: " + ", ".join(f"{t}: {n}" for t, n in totals.items())]
    thread = "MainThread" if "MainThread" in totals else max(totals, key=lambda t: totals[t])
    total = totals[thread]
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    for frames, count in by_thread[thread]:
        own[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    out.append(f"\nthread {thread}: {total} samples\n\nby category:")
    shares = breakdown(by_thread[thread])
    out += [f"  {n / total:6.1%}  {name}" for name, n in shares.most_common()]
    out.append("\nown time:")
    out += [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    out.append("\nincluding callees:")
    out += [f"  {n / total:6.1%}  {f}" for f, n in incl.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    p.add_argument("--backend", choices=api.BACKENDS, default="sqlite")
    p.add_argument("--endpoint", choices=tuple(api.ENDPOINTS), default="get")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=25)
    p.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every thread, not only the one holding the GIL (py-spy --gil)",
    )
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--postgres-url", default=None)
    p.add_argument("--out", type=Path, default=None, help="keep the collapsed stacks here")
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        p.error("py-spy is not installed: .venv/bin/pip install py-spy")
    opts = api.parse_args(["--postgres-url", a.postgres_url] if a.postgres_url else [])
    with tempfile.TemporaryDirectory(prefix="opensure-profile-") as tmp_name:
        tmp = Path(tmp_name)
        with api.fresh_database(a.backend, tmp, opts.pg_url) as url:
            fixture = api.create_fixture(url, tmp)
            server = api.start_opensure(url, 1, tmp, api.serve_supports_no_dispatcher())
            try:
                server.wait_ready(fixture.read_token)
                api.seed(server, fixture, a.seed)
                script = tmp / "load.lua"
                script.write_text(api.wrk_script(a.endpoint, fixture, "profile"))
                api.run_wrk(server, script, 2, a.connections, 1)  # warm-up
                raw_path = tmp / "stacks.txt"
                record = subprocess.Popen(
                    [
                        spy,
                        "record",
                        "--pid",
                        str(server.proc.pid),
                        "--rate",
                        str(a.rate),
                        "--duration",
                        str(max(1, round(a.seconds))),
                        "--format",
                        "raw",
                        "--threads",
                        "--nonblocking",
                        *([] if a.all_threads else ["--gil"]),
                        "--output",
                        str(raw_path),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                time.sleep(0.5)
                m = api.run_wrk(server, script, a.seconds + 1, a.connections, 1)
                _, err = record.communicate(timeout=a.seconds + 60)
                if record.returncode != 0 or not raw_path.exists():
                    raise RuntimeError(f"py-spy failed: {err}")
            finally:
                server.stop()
            raw = raw_path.read_text()
            if a.out:
                a.out.mkdir(parents=True, exist_ok=True)
                target = a.out / f"{a.backend}-{a.endpoint}.txt"
                target.write_text(raw)
                api.log(f"collapsed stacks in {target}")
    print(
        f"{a.backend} {api.ENDPOINTS[a.endpoint]}: {m.rps:.0f} req/s while sampled "
        f"(p50 {m.p50_ms:.1f} ms)\n"
    )
    print(summarize(raw, a.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
