"""The structure ARCHITECTURE.md describes, checked where a reader would not notice it break."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_dispatcher_imports_no_web_framework() -> None:
    # A fresh interpreter: this test process has long imported FastAPI for the others.
    code = (
        "import json, sys\n"
        "import opensure.dispatch.worker\n"
        "import opensure.dispatch.mail, opensure.dispatch.render, opensure.dispatch.repository\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'starlette', 'uvicorn'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == []
    # The same check sees the web layer where it is loaded (so it cannot pass by accident).
    out = subprocess.run(
        [sys.executable, "-c", code.replace("opensure.dispatch.worker", "opensure.app")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "fastapi" in json.loads(out.stdout)
