"""A ``multipart/form-data`` body (a form with a file) read with the standard library's MIME
parser: no parser package is a dependency, and the console's uploads are small and rare."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

# More parts than any console form has: the rest of a body is ignored.
MAX_FIELDS = 20


@dataclass(frozen=True)
class Upload:
    """A file as the browser sent it; ``filename`` and ``content_type`` are the sender's claims
    only (check the bytes)."""

    filename: str
    content_type: str
    data: bytes


def _text(raw: str) -> str:
    # The e-mail parser reads header bytes as ASCII with surrogates; browsers send UTF-8.
    try:
        return raw.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return raw.encode("utf-8", "replace").decode("utf-8")


def parse_multipart(body: bytes, content_type: str) -> list[tuple[str, str | Upload]]:
    """The fields of the form, in order (at most MAX_FIELDS): text as ``str``, files as
    ``Upload``. A body that is not ``multipart/form-data``, or cannot be read, has no fields."""
    if content_type.split(";")[0].strip().lower() != "multipart/form-data":
        return []
    head = (
        b"Content-Type: "
        + content_type.encode("latin-1", "replace")
        + b"\r\nMIME-Version: 1.0\r\n\r\n"
    )
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        return []
    fields: list[tuple[str, str | Upload]] = []
    for part in list(message.iter_parts())[:MAX_FIELDS]:
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_param("filename", header="content-disposition")
        if isinstance(filename, str):
            fields.append((_text(name), Upload(_text(filename), part.get_content_type(), data)))
        else:
            fields.append((_text(name), data.decode("utf-8", "replace")))
    return fields
