"""Signed form tokens: a time and an HMAC under the installation's secret, written once for
the survey pages (bound to the survey and the link's token) and the console's sign-in and
set-password forms (bound to their purpose). They prove a form was served by this site
recently; they are not secret from the person who sees the form."""

from __future__ import annotations

import hashlib
import hmac
import time


def _sign(secret: str, purpose: str, issued: int) -> str:
    mac = hmac.new(secret.encode(), f"{purpose}|{issued}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def make_form_token(secret: str, purpose: str) -> str:
    issued = int(time.time())
    return f"{issued}.{_sign(secret, purpose, issued)}"


def form_token_ok(secret: str, purpose: str, value: str, max_age: float) -> bool:
    issued_text, _, mac = value.partition(".")
    if not issued_text.isdigit() or len(issued_text) > 12:
        return False
    issued = int(issued_text)
    if not 0 <= time.time() - issued <= max_age:
        return False
    return hmac.compare_digest(mac, _sign(secret, purpose, issued))
