"""Per-request return paths (VERP) and the way back: which request a bounce is about.

An e-mail's envelope sender is ``local+{request id}-{tag}@domain`` of OPENSURE_BOUNCE_ADDRESS,
where ``tag`` is an HMAC of a fixed label under the request's own survey-link token, cut to 16
hex digits (64 bits). The tag proves the bounce is about that request (nobody without the token
can make one) and reveals nothing of the token: HMAC is one-way, and the survey link needs the
whole token. Nothing is stored: the tag is computed again from the token when a bounce arrives.

A bounce can also name its request by the e-mail's Message-ID (``render.message_id``: the
request id and the same tag). E-mails sent before 2026-12 carried the token's first 12
characters there instead; bounces quoting those are still recognised.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parseaddr
from functools import lru_cache

TAG_LENGTH = 16
_LABEL = b"opensure-return-path-v1"

_RETURN_PATH = re.compile(r"[A-Za-z0-9._%=-]+\+(\d{1,19})-([0-9a-f]{16})@", re.IGNORECASE)
_MESSAGE_ID = re.compile(
    r"feedback-(?:request|reminder)-(\d{1,19})\.([0-9a-f]{16}|[A-Za-z0-9_-]{12})@"
)


@dataclass(frozen=True)
class Ref:
    """What a bounce says about its request: the id, and the check to compare with what the
    request's token gives (``matches``)."""

    request_id: int
    check: str
    kind: str  # "return_path" or "message_id" (a tag), "message_id_v0" (a token prefix)


def tag(token: str) -> str:
    return hmac.new(token.encode(), _LABEL, hashlib.sha256).hexdigest()[:TAG_LENGTH]


@lru_cache(maxsize=16)
def _split(bounce_address: str) -> tuple[str, str]:
    address = parseaddr(bounce_address)[1] or bounce_address
    local, _, domain = address.rpartition("@")
    if not local or not domain:
        raise ValueError(f"OPENSURE_BOUNCE_ADDRESS {bounce_address!r} is not an e-mail address")
    return local, domain


def return_path(bounce_address: str, request_id: int, token: str) -> str:
    """The envelope sender of one request's e-mail."""
    local, domain = _split(bounce_address)
    return f"{local}+{request_id}-{tag(token)}@{domain}"


def check_address(bounce_address: str) -> None:
    """ValueError if the setting is not an address (checked at start, not at the first send)."""
    _split(bounce_address)


def refs_in(texts: Iterable[str]) -> list[Ref]:
    """Every return path and Message-ID of ours found in ``texts``, each once, in order."""
    found: dict[Ref, None] = {}
    for text in texts:
        if not text:
            continue
        for m in _RETURN_PATH.finditer(text):
            found[Ref(int(m.group(1)), m.group(2).lower(), "return_path")] = None
        for m in _MESSAGE_ID.finditer(text):
            check = m.group(2)
            kind = "message_id" if len(check) == TAG_LENGTH else "message_id_v0"
            found[Ref(int(m.group(1)), check, kind)] = None
    return list(found)


def matches(ref: Ref, token: str | None) -> bool:
    """Whether ``ref`` was made from this token (constant time)."""
    if not token:
        return False
    expected = token[:12] if ref.kind == "message_id_v0" else tag(token)
    return hmac.compare_digest(expected.encode(), ref.check.encode())
