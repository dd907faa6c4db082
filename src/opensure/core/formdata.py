"""A ``multipart/form-data`` body (a form with a file) read with the standard library's MIME
parser: no parser package is a dependency, and the console's uploads are small and rare."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser


@dataclass(frozen=True)
class Upload:
    """A file as the browser sent it; ``filename`` and ``content_type`` are the sender's claims
    only (check the bytes)."""

    filename: str
    content_type: str
    data: bytes


def parse_multipart(body: bytes, content_type: str) -> list[tuple[str, str | Upload]]:
    """The fields of the form, in order: text as ``str``, files as ``Upload``. A body that is
    not ``multipart/form-data`` has no fields."""
    if not content_type.lower().startswith("multipart/form-data"):
        return []
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        return []
    fields: list[tuple[str, str | Upload]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            fields.append((name, data.decode("utf-8", "replace")))
        else:
            fields.append((name, Upload(filename, part.get_content_type(), data)))
    return fields
