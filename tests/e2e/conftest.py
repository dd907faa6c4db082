"""End-to-end tests run against a real `opensure serve` process (see tests/fixtures/server.py)."""

from __future__ import annotations

from tests.fixtures.server import api, opensure_server, server_account

__all__ = ["api", "opensure_server", "server_account"]
