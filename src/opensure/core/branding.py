"""An account's brand: its colour, the text colour readable on it, its logo's checks and the
public addresses of its logo and theme stylesheet. Used by the console (checking what an admin
sets), the survey pages (logo and stylesheet) and the dispatcher's HTML e-mails.

A logo is recognised by its first bytes, never by its file name or declared type: PNG, JPEG,
GIF and WebP only (an SVG can carry scripts). Its pixel size is read from the header of each
format (no imaging library), so a logo larger than ``LOGO_MAX_PIXELS`` on a side is refused.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from typing import Any

LOGO_MAX_BYTES = 512 * 1024
LOGO_MAX_PIXELS = 2000
COLOUR = re.compile(r"#[0-9a-f]{6}")
# Bumped when theme_css() changes, so that browsers holding the old (immutable) file fetch anew.
THEME_VERSION = 1
BRAND_PREFIX = "/brand"
LOGO_TOO_BIG = f"The logo is larger than {LOGO_MAX_BYTES // 1024} KiB, the most a logo may be."

# Content type → file extension of the formats a logo may be in.
LOGO_TYPES = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
}
EXTENSION_TYPES = {ext: kind for kind, ext in LOGO_TYPES.items()}


class LogoRefused(ValueError):
    """The file is not a logo OpenSure accepts; the message says why, as a sentence."""


def colour_problem(value: str) -> str | None:
    """Why ``value`` is not a brand colour (``#rrggbb``), or None."""
    if not COLOUR.fullmatch(value.strip().lower()):
        return "Give the colour as # and six hexadecimal digits, for example #1d4ed8."
    return None


def normal_colour(value: str) -> str:
    """A checked colour as stored: lower case, ``#rrggbb``."""
    return value.strip().lower()


def _channel(c: int) -> float:
    s = c / 255
    return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb`` (0 black … 1 white)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two colours (1 … 21)."""
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def text_on(colour: str) -> str:
    """White or black, whichever reads better on ``colour`` (the higher contrast ratio)."""
    return "#ffffff" if contrast(colour, "#ffffff") >= contrast(colour, "#000000") else "#000000"


def readable_on_white(colour: str) -> bool:
    """Whether ``colour`` may be used for text on white (WCAG AA: 4.5:1)."""
    return contrast(colour, "#ffffff") >= 4.5


def theme_path(colour: str) -> str:
    """The stylesheet giving the survey pages this colour. The colour is in the address, so
    the file never changes (cached for good) and serving it needs no database."""
    return f"{BRAND_PREFIX}/theme{THEME_VERSION}-{colour.removeprefix('#')}.css"


def theme_css(colour: str) -> str:
    """The survey pages' accent in ``colour``, with text readable on it."""
    ink = text_on(colour)
    # A darker or lighter shade of the colour on hover, whichever keeps the text readable.
    hover = "brightness(0.85)" if ink == "#ffffff" else "brightness(1.1)"
    return (
        f":root {{ --accent: {colour}; --accent-ink: {ink}; }}\n"
        f".button:hover {{ background: var(--accent); filter: {hover}; }}\n"
        f".brand-bar {{ border-top: 0.375rem solid {colour}; }}\n"
    )


@dataclass(frozen=True)
class Logo:
    content_type: str
    width: int | None
    height: int | None

    @property
    def extension(self) -> str:
        return LOGO_TYPES[self.content_type]


def logo_path(account_id: int, sha256: str, content_type: str) -> str:
    """The logo's public address: its content's hash in the name, so it is cached for good
    and a new logo has a new address."""
    return f"{BRAND_PREFIX}/{account_id}/logo-{sha256[:12]}.{LOGO_TYPES[content_type]}"


def check_logo(data: bytes) -> Logo:
    """The logo's format and size, or LogoRefused saying why it is not accepted."""
    if not data:
        raise LogoRefused("Choose a logo file to upload.")
    if len(data) > LOGO_MAX_BYTES:
        raise LogoRefused(LOGO_TOO_BIG)
    kind = sniff(data)
    if kind is None:
        raise LogoRefused(
            "The logo must be a PNG, JPEG, GIF or WebP image (SVG and other files are refused)."
        )
    width, height = dimensions(kind, data)
    if width is not None and height is not None:
        if width > LOGO_MAX_PIXELS or height > LOGO_MAX_PIXELS:
            raise LogoRefused(
                f"The logo is {width} by {height} pixels; it may be at most "
                f"{LOGO_MAX_PIXELS} by {LOGO_MAX_PIXELS}."
            )
        if width == 0 or height == 0:
            raise LogoRefused("The logo's file is damaged: it says it has no pixels.")
    return Logo(kind, width, height)


def sniff(data: bytes) -> str | None:
    """The content type from the file's first bytes, if it is one a logo may be."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def dimensions(kind: str, data: bytes) -> tuple[int | None, int | None]:
    """Width and height from the image's header; (None, None) when the header cannot say."""
    try:
        if kind == "image/png" and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return w, h
        if kind == "image/gif":
            w, h = struct.unpack("<HH", data[6:10])
            return w, h
        if kind == "image/jpeg":
            return _jpeg_size(data)
        if kind == "image/webp":
            return _webp_size(data)
    except struct.error:
        pass
    return None, None


# JPEG start-of-frame markers (not DHT C4, JPG C8, DAC CC).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int | None, int | None]:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None, None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _SOF:
            h, w = struct.unpack(">HH", data[at + 5 : at + 9])
            return w, h
        at += 2 + length
    return None, None


def _webp_size(data: bytes) -> tuple[int | None, int | None]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None, None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Brand:
    """What a page or an e-mail shows of an account: its name, logo and colour."""

    company: str
    colour: str | None = None
    logo: str | None = None  # the logo's path (``logo_path``); absolute in e-mails

    @property
    def colour_ink(self) -> str | None:
        return text_on(self.colour) if self.colour else None

    @property
    def theme(self) -> str | None:
        return theme_path(self.colour) if self.colour else None


def brand_of(row: Any, base: str = "") -> Brand:
    """The brand from a row with the account's columns under the names the survey pages' and
    the dispatcher's queries give them: ``account_id``, ``account_name``,
    ``account_display_name``, ``brand_colour``, ``logo_sha256``, ``logo_type``. ``base``: the
    public URL, for e-mails (pages use the path alone)."""
    logo = None
    if row.logo_sha256 and row.logo_type in LOGO_TYPES:
        logo = base + logo_path(row.account_id, row.logo_sha256, row.logo_type)
    return Brand(
        company=row.account_display_name or row.account_name,
        colour=row.brand_colour or None,
        logo=logo,
    )
