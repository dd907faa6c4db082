"""What the metrics count, written once.

- **Sent**: a request in state ``sent`` (its ``sent_at`` in the window).
- **Delivered**: sent, and no delivery failure recorded (``delivery_failure IS NULL``).
- **Replied**: delivered, and a feedback response exists for it.
- **NPS bands** of a rating on an NPS question: promoter 9 to 10, passive 7 to 8, detractor 0 to 6.

Three places compute them: the PostgreSQL triggers and rebuild statements that keep the
rollups (migration 0003; a migration is frozen once released, so it is *checked* against this
module by ``tests/metrics/test_definitions.py``, which runs every rating and every
delivered/replied case through the real triggers), the direct counts of
:mod:`opensure.metrics.repository` (SQLite, and the partial days on PostgreSQL), which build
their conditions from the expressions below, and the tests, which classify with :func:`band`.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import and_

PROMOTER_MIN = 9
PASSIVE_MIN = 7
DETRACTOR_MAX = PASSIVE_MIN - 1
SCALE = range(0, 11)

Band = Literal["promoter", "passive", "detractor"]


def band(rating: int) -> Band:
    if rating >= PROMOTER_MIN:
        return "promoter"
    if rating >= PASSIVE_MIN:
        return "passive"
    return "detractor"


# ---- as SQL text, exactly as the rollup SQL of migration 0003 spells it ----


def promoter_sql(rating: str) -> str:
    return f"{rating} >= {PROMOTER_MIN}"


def passive_sql(rating: str) -> str:
    return f"{rating} BETWEEN {PASSIVE_MIN} AND {PROMOTER_MIN - 1}"


def detractor_sql(rating: str) -> str:
    return f"{rating} <= {DETRACTOR_MAX}"


def delivered_sql(request: str) -> str:
    return f"{request}.delivery_failure IS NULL"


# ---- as SQLAlchemy expressions, for the repository's direct counts ----


def is_promoter(rating: Any) -> Any:
    return rating >= PROMOTER_MIN


def is_passive(rating: Any) -> Any:
    return and_(rating >= PASSIVE_MIN, rating <= PROMOTER_MIN - 1)


def is_detractor(rating: Any) -> Any:
    return rating <= DETRACTOR_MAX


def is_delivered(delivery_failure: Any) -> Any:
    return delivery_failure.is_(None)
