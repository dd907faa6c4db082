"""API tokens: how they look and how they are stored (only as SHA-256 hashes)."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "os_"
# What is kept in clear beside the hash, so an operator can tell tokens apart.
SHOWN_PREFIX_LENGTH = 10


def new_token() -> str:
    # A recognisable prefix lets secret scanners find leaked tokens.
    return TOKEN_PREFIX + secrets.token_hex(20)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
