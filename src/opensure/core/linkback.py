"""The link back from a response to the ticket it came from, written once.

An account may set a URL template (``accounts.link_back_template``) such as
``https://desk.example.com/tickets/{machine_id}`` or ``…?ref={reference}``: the console turns a
response's reference into a link by putting the request's values in. The values are the API
client's and the template is an admin's, so:

- each value is percent-encoded (``/``, ``?``, ``#``, ``&`` and spaces cannot change which
  page the link opens, let alone its host);
- only ``{reference}`` and ``{machine_id}`` are replaced (plain text replacement, not
  ``str.format``: ``{0.__class__}`` is just text);
- a placeholder whose value is missing gives no link (rather than a link to the wrong ticket);
- only an absolute ``http``/``https`` URL with a host is ever returned, so a ``javascript:``
  or ``data:`` template never becomes a link, nor does anything with whitespace or control
  characters in it (browsers strip some of those before they read the scheme).
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

PLACEHOLDERS = ("reference", "machine_id")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_SAFE_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)


def _web_url(url: str) -> bool:
    if not _SAFE_URL.fullmatch(url):
        return False
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def link_back(template: str | None, *, reference: str | None, machine_id: str | None) -> str | None:
    """The URL the response's reference links to, or None (no template, a value the template
    needs is missing, or the result is not a web address)."""
    if not template:
        return None
    values = {"reference": reference, "machine_id": machine_id}
    used = _PLACEHOLDER.findall(template)
    if not used or any(not values[name] for name in used):
        return None
    url = _PLACEHOLDER.sub(lambda m: quote(values[m[1]] or "", safe=""), template)
    return url if _web_url(url) else None


def template_problem(template: str) -> str | None:
    """Why a link-back template cannot be saved, or None: for the setting's form."""
    if not _PLACEHOLDER.search(template):
        return "Put {reference} or {machine_id} where the value goes."
    if not _web_url(_PLACEHOLDER.sub("x", template)):
        return "Start it with https:// or http:// and a host name; no spaces."
    return None
