"""Response rate and Net Promoter Score (SPEC §4 Metrics)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from opensure.api import timestamps
from opensure.api import validation as v
from opensure.api.errors import Errors
from opensure.core.clock import utcnow
from opensure.metrics import definitions
from opensure.metrics import repository as repo
from opensure.models.rollups import DIM_OPTION, DIM_SITE, DIM_STAFF, DIM_TEAM


def round_half_away(value: Fraction) -> int:
    """Nearest integer, halves away from zero (2.5 → 3, -2.5 → -3)."""
    magnitude = int(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude


def rate_percent(replied: int, delivered: int) -> int:
    """The response rate: replies / delivered x 100, an integer; 0 when nothing was delivered."""
    return round_half_away(Fraction(replied * 100, delivered)) if delivered else 0


def nps_score(promoters: int, passives: int, detractors: int) -> int | None:
    """(promoters - detractors) / all x 100, an integer; None without answers."""
    total = promoters + passives + detractors
    return round_half_away(Fraction((promoters - detractors) * 100, total)) if total else None


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


async def _owned_survey_ids(
    conn: AsyncConnection, errors: Errors, account_id: int, raw: list[str] | None
) -> list[int] | None:
    survey_ids = v.id_list(errors, "survey_ids", raw)
    if survey_ids and not errors:
        unknown = set(survey_ids) - await repo.owned_surveys(conn, account_id, survey_ids)
        if unknown:
            errors.add(
                "survey_ids", "invalid_value", {"message": f"unknown survey ids: {sorted(unknown)}"}
            )
    return survey_ids


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
    survey_ids = await _owned_survey_ids(conn, errors, account_id, raw_survey_ids)
    errors.raise_if_any()
    sent, delivered, replies = await repo.response_rate_counts(
        conn, account_id, start=start, end=end, survey_ids=survey_ids
    )
    return {
        "response_rate_percent": rate_percent(replies, delivered),
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
    return {
        "net_promoter_score": nps_score(promoters, passives, detractors),
        "promoter_count": promoters,
        "passive_count": passives,
        "detractor_count": detractors,
    }


# ---- the console's dashboards ----
#
# One window and one survey filter for every figure. The totals are the very numbers of GET /nps
# (question_ids = the NPS questions of the chosen surveys) and GET /response_rate (survey_ids),
# read by the same repository functions; the trend, the distribution and the breakdowns split
# the same rows by UTC day, by rating and by staff member, team, site and segment option.

GRAINS = ("day", "week", "month")
SORT_KEYS = ("name", "responses", "nps", "rate", "sent")
BREAKDOWNS = ("staff", "team", "site", "segment")
DEFAULT_SORT = "-responses"
MAX_BUCKETS = 1000
_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Nps:
    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    @property
    def total(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def score(self) -> int | None:
        return nps_score(self.promoters, self.passives, self.detractors)

    def percent(self, count: int) -> int:
        """A band's share of all answers, a whole percentage (0 without answers)."""
        return round_half_away(Fraction(count * 100, self.total)) if self.total else 0

    def __add__(self, other: Nps) -> Nps:
        return Nps(
            self.promoters + other.promoters,
            self.passives + other.passives,
            self.detractors + other.detractors,
        )


@dataclass(frozen=True)
class Rate:
    sent: int = 0
    delivered: int = 0
    replied: int = 0

    @property
    def percent(self) -> int:
        return rate_percent(self.replied, self.delivered)

    def __add__(self, other: Rate) -> Rate:
        return Rate(
            self.sent + other.sent,
            self.delivered + other.delivered,
            self.replied + other.replied,
        )


@dataclass(frozen=True)
class Bucket:
    """One step of a trend: the UTC day, ISO week (from Monday) or month starting on ``start``."""

    start: dt.date
    nps: Nps
    rate: Rate


@dataclass(frozen=True)
class Row:
    """One line of a breakdown; ``id`` None is the line of those without a value."""

    id: int | None
    name: str
    code: str | None
    responses: int
    nps: Nps
    rate: Rate


@dataclass(frozen=True)
class Breakdown:
    key: str  # "staff", "team", "site" or "segment"
    title: str
    rows: list[Row]
    sort: str


@dataclass(frozen=True)
class Dashboard:
    start: dt.datetime
    end: dt.datetime
    survey_ids: list[int] | None
    grain: str
    nps: Nps
    rate: Rate
    trend: list[Bucket]
    distribution: list[tuple[int, int]]  # (rating 0-10, answers)
    breakdowns: list[Breakdown] = field(default_factory=list)


def bucket_of(day: dt.date, grain: str) -> dt.date:
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def next_bucket(start: dt.date, grain: str) -> dt.date:
    if grain == "week":
        return start + dt.timedelta(days=7)
    if grain == "month":
        return (start + dt.timedelta(days=32)).replace(day=1)
    return start + dt.timedelta(days=1)


def buckets(first: dt.date, last: dt.date, grain: str) -> list[dt.date]:
    """Every bucket from the one holding ``first`` to the one holding ``last``, empty ones too."""
    out = []
    current = bucket_of(first, grain)
    while current <= last:
        out.append(current)
        current = next_bucket(current, grain)
    return out


def bucket_count(start: dt.datetime, end: dt.datetime, grain: str) -> int:
    first, last = bucket_of(start.date(), grain), bucket_of(end.date(), grain)
    if grain == "day":
        return (last - first).days + 1
    if grain == "week":
        return (last - first).days // 7 + 1
    return (last.year - first.year) * 12 + last.month - first.month + 1


def dashboard_window(
    errors: Errors, raw_from: str | None, raw_to: str | None, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """The window of :func:`window` (by default the last 30 days, as GET /nps), where a bare
    date as ``to_time`` takes in that whole UTC day (a date picker's "to" is inclusive)."""
    raw_from = (raw_from.strip() or None) if raw_from is not None else None
    raw_to = (raw_to.strip() or None) if raw_to is not None else None
    if raw_to is not None and _BARE_DATE.fullmatch(raw_to):
        raw_to += "T23:59:59Z"
    return window(errors, raw_from, raw_to, midnight_days_ago(now, 30), now)


def parse_sort(errors: Errors, field_name: str, raw: str | None) -> str:
    """``key`` (ascending) or ``-key`` (descending), key one of :data:`SORT_KEYS`."""
    if raw is None or raw == "":
        return DEFAULT_SORT
    if raw.removeprefix("-") not in SORT_KEYS:
        errors.add(field_name, "invalid_value", {"allowed_values": list(SORT_KEYS)})
        return DEFAULT_SORT
    return raw


def sort_rows(rows: list[Row], sort: str) -> list[Row]:
    """Rows by the sort key; rows without a value for it (no NPS answers) always last, then
    by name."""
    key = sort.removeprefix("-")
    descending = sort.startswith("-")
    by_name = sorted(rows, key=lambda r: (r.name.casefold(), r.code or "", r.id or 0))
    if key == "name":
        return list(reversed(by_name)) if descending else by_name

    def value(row: Row) -> int | None:
        if key == "responses":
            return row.responses
        if key == "nps":
            return row.nps.score
        if key == "sent":
            return row.rate.sent
        return row.rate.percent if row.rate.delivered else None

    present = [r for r in by_name if value(r) is not None]
    missing = [r for r in by_name if value(r) is None]
    present.sort(key=lambda r: value(r) or 0, reverse=descending)
    return present + missing


def _nps_of_rating(rating: int, count: int) -> Nps:
    band = definitions.band(rating)
    return Nps(
        promoters=count if band == "promoter" else 0,
        passives=count if band == "passive" else 0,
        detractors=count if band == "detractor" else 0,
    )


@dataclass
class _Tally:
    responses: dict[int | None, int] = field(default_factory=dict)
    nps: dict[int | None, Nps] = field(default_factory=dict)
    rate: dict[int | None, Rate] = field(default_factory=dict)

    def add(
        self, key: int | None, responses: int = 0, nps: Nps | None = None, rate: Rate | None = None
    ) -> None:
        self.responses[key] = self.responses.get(key, 0) + responses
        if nps is not None:
            self.nps[key] = self.nps.get(key, Nps()) + nps
        if rate is not None:
            self.rate[key] = self.rate.get(key, Rate()) + rate

    def rows(self, label: Callable[[int | None], tuple[str, str | None]]) -> list[Row]:
        keys = set(self.responses) | set(self.nps) | set(self.rate)
        return [
            Row(
                id=key,
                name=label(key)[0],
                code=label(key)[1],
                responses=self.responses.get(key, 0),
                nps=self.nps.get(key, Nps()),
                rate=self.rate.get(key, Rate()),
            )
            for key in keys
        ]


async def dashboard(
    *,
    conn: AsyncConnection,
    account_id: int,
    raw_from: str | None,
    raw_to: str | None,
    raw_survey_ids: list[str] | None,
    raw_grain: str | None,
    raw_sorts: Mapping[str, str | None] | None = None,
) -> Dashboard:
    """Every figure of the dashboard for one window and survey filter. Bad input raises
    ValidationFailed with every problem at once (fields from_time, to_time, survey_ids, grain,
    sort_<breakdown>)."""
    errors = Errors("/app/dashboard")
    start, end = dashboard_window(errors, raw_from, raw_to, utcnow())
    survey_ids = await _owned_survey_ids(conn, errors, account_id, raw_survey_ids)
    grain = raw_grain or "week"
    if grain not in GRAINS:
        errors.add("grain", "invalid_value", {"allowed_values": list(GRAINS)})
    elif not errors and bucket_count(start, end, grain) > MAX_BUCKETS:
        errors.add("grain", "invalid_value", {"message": "too many points: choose a longer step"})
    sorts = {
        key: parse_sort(errors, f"sort_{key}", (raw_sorts or {}).get(key)) for key in BREAKDOWNS
    }
    errors.raise_if_any()

    # The NPS of the chosen surveys is the NPS of their NPS questions (GET /nps?question_ids[]);
    # surveys without one have no NPS answers at all.
    question_ids = await repo.nps_questions_of(conn, account_id, survey_ids) if survey_ids else None
    window_args: dict[str, Any] = {"start": start, "end": end}
    asks_nps = question_ids is None or bool(question_ids)
    nps_args = {**window_args, "question_ids": question_ids}
    rate_args = {**window_args, "survey_ids": survey_ids}

    await repo.plan_for_small_spans(conn)
    rate = Rate(*await repo.response_rate_counts(conn, account_id, **rate_args))
    rate_days = await repo.response_rate_by_day(conn, account_id, **rate_args)
    total_nps = Nps()
    nps_days: dict[dt.date, tuple[int, int, int]] = {}
    ratings: list[repo.NpsByDim] = []
    if asks_nps:
        total_nps = Nps(*await repo.nps_counts(conn, account_id, **nps_args))
        nps_days = await repo.nps_by_day(conn, account_id, **nps_args)
        ratings = await repo.nps_by_dims(conn, account_id, **nps_args)

    steps = buckets(start.date(), end.date(), grain)
    trend_nps = dict.fromkeys(steps, Nps())
    trend_rate = dict.fromkeys(steps, Rate())
    for day, counts in nps_days.items():
        trend_nps[bucket_of(day, grain)] += Nps(*counts)
    for day, counts in rate_days.items():
        trend_rate[bucket_of(day, grain)] += Rate(*counts)

    staff = await repo.staff_members(conn, account_id)
    tallies = {dim: _Tally() for dim in (DIM_STAFF, DIM_TEAM, DIM_SITE, DIM_OPTION)}
    distribution = dict.fromkeys(definitions.SCALE, 0)
    for dim, key, rating, count in ratings:
        tallies[dim].add(key or None, nps=_nps_of_rating(rating, count))
        # Every answer is under exactly one staff key (0: none).
        if dim == DIM_STAFF and rating in distribution:
            distribution[rating] += count
    for dim, key, count in await repo.responses_by_dims(conn, account_id, **rate_args):
        tallies[dim].add(key or None, responses=count)
    for dim, key, counts in await repo.response_rate_by_dims(conn, account_id, **rate_args):
        tallies[dim].add(key or None, rate=Rate(*counts))
        if dim == DIM_STAFF:  # a request's team: its staff member's team now
            team = staff[key][2] if key in staff else None
            tallies[DIM_TEAM].add(team, rate=Rate(*counts))

    breakdowns = await _breakdowns(conn, account_id, staff, tallies, sorts)
    return Dashboard(
        start=start,
        end=end,
        survey_ids=survey_ids,
        grain=grain,
        nps=total_nps,
        rate=rate,
        trend=[Bucket(day, trend_nps[day], trend_rate[day]) for day in steps],
        distribution=sorted(distribution.items()),
        breakdowns=breakdowns,
    )


async def _breakdowns(
    conn: AsyncConnection,
    account_id: int,
    staff_members: dict[int, tuple[str, str, int | None]],
    tallies: dict[str, _Tally],
    sorts: dict[str, str],
) -> list[Breakdown]:
    staff_tally, team_tally, site_tally = (tallies[d] for d in (DIM_STAFF, DIM_TEAM, DIM_SITE))
    options = tallies[DIM_OPTION]
    staff = {i: (name, code) for i, (name, code, _) in staff_members.items()}
    teams = {i: (name, None) for i, name in (await repo.team_names(conn, account_id)).items()}
    sites = await repo.site_names(conn, account_id)

    def labelled(names: Mapping[int, tuple[str, str | None]], none: str) -> Any:
        def label(key: int | None) -> tuple[str, str | None]:
            return (none, None) if key is None else names.get(key, (f"#{key}", None))

        return label

    out = [
        Breakdown(
            "staff",
            "Staff member",
            sort_rows(staff_tally.rows(labelled(staff, "No staff member")), sorts["staff"]),
            sorts["staff"],
        ),
        Breakdown(
            "team",
            "Team",
            sort_rows(team_tally.rows(labelled(teams, "No team")), sorts["team"]),
            sorts["team"],
        ),
        Breakdown(
            "site",
            "Site",
            sort_rows(site_tally.rows(labelled(sites, "No site")), sorts["site"]),
            sorts["site"],
        ),
    ]
    # One table per segment: its options that appear in the window.
    option_names = await repo.segment_options(conn, account_id)
    by_segment: dict[str, list[Row]] = {}
    for row in options.rows(
        labelled({i: (value, None) for i, (_, value) in option_names.items()}, "")
    ):
        if row.id in option_names:
            by_segment.setdefault(option_names[row.id][0], []).append(row)
    for key in sorted(by_segment, key=str.casefold):
        sort = sorts["segment"]
        out.append(Breakdown("segment", f"Segment: {key}", sort_rows(by_segment[key], sort), sort))
    return out
