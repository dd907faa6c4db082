"""The one e-mail normaliser (opensure.core.emails)."""

from __future__ import annotations

import pytest

from opensure.core.emails import normalise_email, normalised_or_none


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Kate@Example.COM", "kate@example.com"),
        (" kate@example.com ", "kate@example.com"),
        ("ÉLODIE@exemple.fr", "élodie@exemple.fr"),
        # e + combining acute accent (NFD) is the same address as é (NFC)
        ("e\u0301lodie@exemple.fr", "élodie@exemple.fr"),
        ("Ünïcode@BÜCHER.de", "ünïcode@bücher.de"),
    ],
)
def test_addresses_that_are_one_recipient_normalise_alike(given: str, expected: str) -> None:
    assert normalise_email(given) == expected


def test_none_stays_none() -> None:
    assert normalised_or_none(None) is None
    assert normalised_or_none("A@B.C") == "a@b.c"
