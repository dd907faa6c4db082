"""Rating scales, written once for the survey page and the one-click e-mail: a question's
range and the words under its ends.

Every English word a customer reads under a scale is in :func:`end_words`, so that it can be
translated in one place.
"""

from __future__ import annotations

from typing import Any

DEFAULT_MIN = 0
DEFAULT_MAX = 10


def scale(question: Any) -> tuple[int, int]:
    """The lowest and highest value of a Rating question (0 to 10 unless it sets its own)."""
    low = question.scale_min if question.scale_min is not None else DEFAULT_MIN
    high = question.scale_max if question.scale_max is not None else DEFAULT_MAX
    return low, high


def end_words(nps: bool) -> tuple[str, str]:
    """The words under the lowest and the highest value of a scale (without the number)."""
    if nps:
        return "Not likely", "Very likely"
    return "lowest", "highest"
