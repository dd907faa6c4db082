"""A real ``opensure serve`` process for the integration tests, and a customer to answer surveys.

One server per test session, on a fresh SQLite database in a temporary folder, with its mail
written to a Maildir there. Its account and survey are made with the ``opensure`` command line,
as an operator would. The console script is the one installed beside the interpreter running
the tests; without it (the client installed on its own) these tests are skipped, or fail
under OPENSURE_TEST_REQUIRE_ALL=1 (CI).
"""

from __future__ import annotations

import email
import email.policy
import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

OPENSURE = Path(sys.executable).with_name("opensure")
START_TIMEOUT = 30.0
MAIL_TIMEOUT = 15.0

SURVEY = {
    "name": "After-ticket survey",
    "questions": [
        {"type": "rating", "text": "How likely are you to recommend us?", "nps": True},
        {"type": "text", "text": "Anything else?", "required": False},
    ],
}
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


@dataclass
class LiveServer:
    base_url: str
    token: str
    account: str
    survey: dict[str, Any]
    workdir: Path
    process: subprocess.Popen[bytes]

    @property
    def survey_id(self) -> int:
        return int(self.survey["id"])

    @property
    def nps_question_id(self) -> int:
        return int(next(q["id"] for q in self.survey["questions"] if q["nps"]))

    @property
    def outbox(self) -> Path:
        return self.workdir / "outbox"

    def log(self) -> str:
        return (self.workdir / "serve.log").read_text(errors="replace")

    # ---- the customer's side: the email and the survey page ----

    def wait_for_email(self, to: str) -> EmailMessage:
        """The survey email sent to ``to`` by the server's dispatcher."""
        deadline = time.monotonic() + MAIL_TIMEOUT
        while time.monotonic() < deadline:
            for path in sorted((self.outbox / "new").glob("*")):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                if message["To"] and to in str(message["To"]):
                    return message
            time.sleep(0.05)
        raise AssertionError(f"no email to {to} within {MAIL_TIMEOUT} s\n{self.log()[-3000:]}")

    def survey_link(self, message: EmailMessage) -> str:
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        text = body.get_content()
        found = re.search(re.escape(self.base_url) + r"/s/[^\s<>\"]+", text)
        assert found, text
        return found.group(0)

    def answer(self, link: str, score: int, comment: str = "") -> None:
        """Fill in the survey page at ``link`` as the customer would."""
        with httpx.Client(timeout=10.0) as browser:
            page = browser.get(link)
            assert page.status_code == 200, page.text
            form = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
            questions = self.survey["questions"]
            form[f"q{questions[0]['id']}"] = str(score)
            form[f"q{questions[1]['id']}"] = comment
            if "?t=" not in link:  # the public link asks who is answering
                form.update(name="Anonymous Customer", email="anon@example.com")
            posted = browser.post(link.split("?", 1)[0], data=form)
            assert posted.status_code == 303, posted.text


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], cwd: Path, *args: str) -> Any:
    done = subprocess.run(
        [str(OPENSURE), *args, "--json"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"opensure {' '.join(args)}: {done.stderr}{done.stdout}"
    return json.loads(done.stdout)


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"opensure serve exited: {log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"opensure serve did not listen within {START_TIMEOUT} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not OPENSURE.exists():
        missing = f"no opensure server beside {sys.executable}"
        if os.environ.get("OPENSURE_TEST_REQUIRE_ALL") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    workdir = tmp_path_factory.mktemp("opensure-live")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSURE_")}
    env.update(
        OPENSURE_DATABASE_URL=f"sqlite:///{workdir / 'opensure.db'}",
        OPENSURE_MAIL_URL=f"maildir:{workdir / 'outbox'}",
        OPENSURE_PUBLIC_URL=base_url,
        PYTHONUNBUFFERED="1",
    )
    # The first command also creates the schema; the server and the survey import then start
    # together, since starting a Python process is most of the time these take.
    account = _cli(env, workdir, "accounts", "create", "Acme Ltd")
    log = workdir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(OPENSURE), "serve", "--port", str(port), "--no-access-log", "--no-demo"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
    survey_file = workdir / "survey.json"
    survey_file.write_text(json.dumps(SURVEY))
    try:
        survey = _cli(env, workdir, "surveys", "import", "--account", "Acme Ltd", str(survey_file))
    except BaseException:
        _stop(process)
        raise
    try:
        _wait_listening(process, port, log)
        yield LiveServer(base_url, account["token"], "Acme Ltd", survey, workdir, process)
    finally:
        _stop(process)
