"""The examples of docs/client.md, run as written against a real server.

A fenced block after ``<!-- test: run -->`` is run as a script (in a fresh namespace, in a
temporary working folder, with OPENSURE_API_TOKEN, OPENSURE_BASE_URL and SURVEY_ID set); a block
after ``<!-- test: file NAME -->`` is written to NAME first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

DOC = Path(__file__).resolve().parents[3] / "docs" / "client.md"
_BLOCK = re.compile(r"<!-- test: (run|file [^ ]+) -->\n```\w*\n(.*?)\n```", re.DOTALL)


@dataclass
class Block:
    heading: str
    kind: str
    code: str
    line: int


def _blocks() -> list[Block]:
    if not DOC.exists():
        return []
    text = DOC.read_text(encoding="utf-8")
    blocks = []
    for match in _BLOCK.finditer(text):
        before = text[: match.start()]
        headings = re.findall(r"^#+ (.+)$", before, re.MULTILINE)
        line = before.count("\n") + 3
        blocks.append(Block(headings[-1], match.group(1), match.group(2), line))
    return blocks


BLOCKS = _blocks()


@pytest.fixture
def run_example(
    live_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Any:
    if not BLOCKS:
        pytest.skip(f"{DOC} not found (the client is tested outside its repository)")
    monkeypatch.setenv("OPENSURE_API_TOKEN", live_server.token)
    monkeypatch.setenv("OPENSURE_BASE_URL", live_server.base_url)
    monkeypatch.setenv("SURVEY_ID", str(live_server.survey_id))
    monkeypatch.chdir(tmp_path)

    def run(heading: str) -> str:
        blocks = [b for b in BLOCKS if b.heading == heading]
        assert blocks, f"no tested example under '{heading}'"
        for block in blocks:
            if block.kind.startswith("file "):
                (tmp_path / block.kind.removeprefix("file ")).write_text(block.code + "\n")
            else:
                code = compile(block.code, f"{DOC}:{block.line}", "exec")
                exec(code, {"__name__": "__main__"})
        return capsys.readouterr().out

    return run


def test_every_example_is_tested() -> None:
    if not BLOCKS:
        pytest.skip(f"{DOC} not found")
    assert {b.heading for b in BLOCKS if b.kind == "run"} == {
        "Testing code that uses the client",
        "Schedule a survey after a ticket closes",
        "Export all responses incrementally",
        "Read NPS for last month",
        "Sync sites from a CSV",
    }


def test_mock_transport(run_example: Any) -> None:
    run_example("Testing code that uses the client")


def test_schedule_a_survey_after_a_ticket_closes(run_example: Any) -> None:
    out = run_example("Schedule a survey after a ticket closes")
    assert re.fullmatch(r"ticket #1041: survey \d+ will be sent at \d\d:\d\d UTC\n", out)


def test_export_all_responses_incrementally(run_example: Any, live_server: Any) -> None:
    live_server.answer(f"{live_server.base_url}/s/{live_server.survey['code']}", score=8)
    first = run_example("Export all responses incrementally")
    exported = int(first.split()[0])
    assert exported >= 1
    assert len(Path("responses.jsonl").read_text().splitlines()) == exported
    assert run_example("Export all responses incrementally") == "0 responses exported\n"


def test_read_nps_for_last_month(run_example: Any) -> None:
    out = run_example("Read NPS for last month")
    assert re.fullmatch(r"\w+ \d{4}: (no NPS answers|NPS [+-]\d+ from \d+ answers)\n", out)


def test_sync_sites_from_a_csv(run_example: Any, live_server: Any) -> None:
    from opensure_client import Client

    with Client(
        token=live_server.token, user_agent="Acme Ltd", base_url=live_server.base_url
    ) as api:
        api.sites.replace("closed-branch", name="Closed Branch")
        out = run_example("Sync sites from a CSV")
        assert out.startswith("3 created, 0 replaced, ")
        assert out.endswith(" deleted\n") and not out.endswith(" 0 deleted\n")
        sites = {s.site_code: s for s in api.sites.list()}
        assert set(sites) == {"hq", "leeds", "online"}
        assert sites["hq"].country_code == "GB"
        assert sites["online"].city is None
        assert run_example("Sync sites from a CSV") == "0 created, 3 replaced, 0 deleted\n"
        for code in sites:
            api.sites.delete(code)
