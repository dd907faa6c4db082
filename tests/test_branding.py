"""core.branding: readable text on a brand colour, and logos recognised by their bytes."""

from __future__ import annotations

import struct

import pytest

from opensure.core import branding
from tests.fixtures.images import gif, png


@pytest.mark.parametrize(
    ("colour", "ink"),
    [
        ("#000000", "#ffffff"),
        ("#ffffff", "#000000"),
        ("#1d4ed8", "#ffffff"),
        ("#ffd700", "#000000"),
        ("#1a7f37", "#ffffff"),
        ("#00ff00", "#000000"),
        ("#777777", "#000000"),
    ],
)
def test_text_on_a_colour_is_the_more_readable_of_white_and_black(colour: str, ink: str) -> None:
    assert branding.text_on(colour) == ink
    assert branding.contrast(colour, ink) >= 4.5


def test_colours_are_hash_and_six_hex_digits() -> None:
    assert branding.colour_problem("#1A7f37") is None
    assert branding.normal_colour(" #1A7F37 ") == "#1a7f37"
    for bad in ("1a7f37", "#1a7f3", "#1a7f37a", "red", "#ggg000", "rgb(0,0,0)", ""):
        assert branding.colour_problem(bad), bad


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def webp_vp8x(width: int, height: int) -> bytes:
    chunk = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    chunk += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


@pytest.mark.parametrize(
    ("data", "kind", "size"),
    [
        (png(7, 3), "image/png", (7, 3)),
        (gif(5, 9), "image/gif", (5, 9)),
        (jpeg(640, 480), "image/jpeg", (640, 480)),
        (webp_vp8x(300, 100), "image/webp", (300, 100)),
    ],
)
def test_logos_are_recognised_with_their_size(
    data: bytes, kind: str, size: tuple[int, int]
) -> None:
    logo = branding.check_logo(data)
    assert (logo.content_type, logo.width, logo.height) == (kind, *size)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG and other files are refused"),
        (b"<?xml version='1.0'?><svg/>", "SVG and other files are refused"),
        (b"%PDF-1.7", "must be a PNG"),
        (jpeg(2400, 10), "2400 by 10 pixels"),
        (webp_vp8x(10, 2001), "10 by 2001 pixels"),
        (png(0, 3), "no pixels"),
        (b"", "Choose a logo file"),
    ],
)
def test_other_files_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(branding.LogoRefused, match=problem):
        branding.check_logo(data)
