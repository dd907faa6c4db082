"""Response rate and Net Promoter Score (SPEC §4 Metrics)."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.api import timestamps
from opensure.api import validation as v
from opensure.api.errors import Errors
from opensure.core.clock import utcnow
from opensure.metrics import repository as repo


def round_half_away(value: Fraction) -> int:
    """Nearest integer, halves away from zero (2.5 → 3, -2.5 → -3)."""
    magnitude = int(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude


def midnight_days_ago(now: dt.datetime, days: int) -> dt.datetime:
    today = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=days)


def window(
    errors: Errors,
    raw_from: str | None,
    raw_to: str | None,
    default_from: dt.datetime,
    default_to: dt.datetime,
) -> tuple[dt.datetime, dt.datetime]:
    start = (
        v.timestamp(errors, "from_time", raw_from, required=False) if raw_from is not None else None
    )
    end = v.timestamp(errors, "to_time", raw_to, required=False) if raw_to is not None else None
    start = start or default_from
    end = end or default_to
    if start > end and not errors:
        errors.add("from_time", "invalid_date", {"maximum": timestamps.format(end)})
    # Times are shown and given in whole seconds, so to_time=23:59:59Z takes in a row stored at
    # 23:59:59.4 (shown as 23:59:59Z): the window ends with the last instant of that second.
    end = end.replace(microsecond=0) + dt.timedelta(seconds=1, microseconds=-1)
    return start, end


async def response_rate(
    *,
    conn: AsyncConnection,
    account_id: int,
    raw_from: str | None,
    raw_to: str | None,
    raw_survey_ids: list[str] | None,
) -> dict[str, Any]:
    now = utcnow()
    errors = Errors("/response_rate")
    start, end = window(
        errors, raw_from, raw_to, midnight_days_ago(now, 32), midnight_days_ago(now, 2)
    )
    survey_ids = v.id_list(errors, "survey_ids", raw_survey_ids)
    if survey_ids and not errors:
        unknown = set(survey_ids) - await repo.owned_surveys(conn, account_id, survey_ids)
        if unknown:
            errors.add(
                "survey_ids", "invalid_value", {"message": f"unknown survey ids: {sorted(unknown)}"}
            )
    errors.raise_if_any()
    sent, delivered, replies = await repo.response_rate_counts(
        conn, account_id, start=start, end=end, survey_ids=survey_ids
    )
    percent = round_half_away(Fraction(replies * 100, delivered)) if delivered else 0
    return {
        "response_rate_percent": percent,
        "sent_count": sent,
        "delivered_count": delivered,
        "reply_count": replies,
    }


async def nps(
    *,
    conn: AsyncConnection,
    account_id: int,
    raw_from: str | None,
    raw_to: str | None,
    raw_question_ids: list[str] | None,
) -> dict[str, Any]:
    now = utcnow()
    errors = Errors("/nps")
    start, end = window(errors, raw_from, raw_to, midnight_days_ago(now, 30), now)
    question_ids = v.id_list(errors, "question_ids", raw_question_ids)
    if question_ids and not errors:
        unknown = set(question_ids) - await repo.owned_nps_questions(conn, account_id, question_ids)
        if unknown:
            errors.add(
                "question_ids",
                "invalid_value",
                {"message": f"not NPS questions of this account: {sorted(unknown)}"},
            )
    errors.raise_if_any()
    promoters, passives, detractors = await repo.nps_counts(
        conn, account_id, start=start, end=end, question_ids=question_ids
    )
    total = promoters + passives + detractors
    score = round_half_away(Fraction((promoters - detractors) * 100, total)) if total else None
    return {
        "net_promoter_score": score,
        "promoter_count": promoters,
        "passive_count": passives,
        "detractor_count": detractors,
    }
