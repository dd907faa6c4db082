"""Per-day metric counters (PostgreSQL only, kept exact by triggers; see migration 0003).

At a million rows an aggregate over the base tables takes hundreds of milliseconds; the metric
endpoints instead add up whole days from these tables and count only the partial days at the
window's edges from the base tables. On SQLite the tables exist but stay empty: the embedded
shape aggregates its base tables directly.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opensure.db import Base


class ResponseRateDay(Base):
    __tablename__ = "rollup_response_rate"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    survey_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    replied: Mapped[int] = mapped_column(Integer, default=0)


class NpsDay(Base):
    __tablename__ = "rollup_nps"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    question_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    promoters: Mapped[int] = mapped_column(Integer, default=0)
    passives: Mapped[int] = mapped_column(Integer, default=0)
    detractors: Mapped[int] = mapped_column(Integer, default=0)


class RequestCount(Base):
    """Feedback requests per account, survey and state: exact list totals without COUNT(*)."""

    __tablename__ = "rollup_request_counts"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    survey_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    state: Mapped[str] = mapped_column(String(10), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class ResponseCount(Base):
    """Feedback responses per account and survey."""

    __tablename__ = "rollup_response_counts"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    survey_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


# Per-day counters by dimension, for the console's breakdowns and 0-10 distribution (PostgreSQL
# only, kept exact by the triggers of migration 0011). ``dim`` names what ``key`` is:
# "s" staff member, "t" team, "l" site (0: none), "o" segment option (no row when none).
# A request's team is its staff member's current team, so requests have no "t" rows: the
# service adds up the "s" rows by team.
DIM_STAFF = "s"
DIM_TEAM = "t"
DIM_SITE = "l"
DIM_OPTION = "o"


class NpsRatingDay(Base):
    """NPS answers per day, dimension value, question and rating."""

    __tablename__ = "rollup_nps_by"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    dim: Mapped[str] = mapped_column(String(1), primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    question_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rating: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class ResponsesDay(Base):
    """Responses per day (submitted_at), dimension value and survey."""

    __tablename__ = "rollup_responses_by"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    dim: Mapped[str] = mapped_column(String(1), primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    survey_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class ResponseRateByDay(Base):
    """Sent, delivered and replied requests per day (sent_at), dimension value and survey."""

    __tablename__ = "rollup_response_rate_by"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    dim: Mapped[str] = mapped_column(String(1), primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    survey_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    replied: Mapped[int] = mapped_column(Integer, default=0)
