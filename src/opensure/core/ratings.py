"""Rating scales, written once for the survey page and the one-click e-mail: a question's
range and the words under its ends.

The words a customer reads under a scale's ends are :func:`end_words`, in the language of the
``gettext`` given (``core.translations``); the page's catalog has them too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DEFAULT_MIN = 0
DEFAULT_MAX = 10


def scale(question: Any) -> tuple[int, int]:
    """The lowest and highest value of a Rating question (0 to 10 unless it sets its own)."""
    low = question.scale_min if question.scale_min is not None else DEFAULT_MIN
    high = question.scale_max if question.scale_max is not None else DEFAULT_MAX
    return low, high


def _same(text: str) -> str:
    return text


def end_words(nps: bool, gettext: Callable[[str], str] = _same) -> tuple[str, str]:
    """The words under the lowest and the highest value of a scale (without the number), in
    English or through ``gettext``."""
    if nps:
        return gettext("Not likely"), gettext("Very likely")
    return gettext("lowest"), gettext("highest")
