"""GET /app/dashboard: NPS and response rate for a window and surveys, their trend, the 0-10
distribution and the breakdowns by staff member, team, site and segment option.

Every figure comes from ``metrics.service.dashboard`` (the numbers of GET /nps and
GET /response_rate for the same window and surveys); this module only turns them into a page:
the filter form, SVG charts each beside its table, and sort links (GET, no script).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup
from starlette.responses import Response

from opensure.api.deps import read_planned
from opensure.api.errors import ValidationFailed
from opensure.api.request import array_param
from opensure.console import charts, web
from opensure.console.session import Viewer, signed_in
from opensure.core.clock import utcnow
from opensure.metrics import definitions
from opensure.metrics import service as metrics
from opensure.metrics.service import Breakdown, Bucket, Dashboard
from opensure.surveys.repository import names as survey_names

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
SignedIn = Annotated[Viewer, Depends(signed_in)]

PATH = web.PREFIX + "/dashboard"
QUICK = (("Last 30 days", 30), ("Last 90 days", 90), ("Last 12 months", 365))
GRAIN_NAMES = {"day": "Day", "week": "Week (from Monday)", "month": "Month"}
# Breakdown columns: (sort key, header, numeric?). Names sort A-Z first, numbers largest first.
COLUMNS = (
    ("name", "Name", False),
    ("responses", "Responses", True),
    ("nps", "NPS", True),
    ("sent", "Sent", True),
    ("rate", "Response rate", True),
)
FIELD_NAMES = {
    "from_time": "From",
    "to_time": "To",
    "survey_ids": "Surveys",
    "grain": "Trend step",
}
BAND_FILL = {"promoter": "#137333", "passive": "#c98a00", "detractor": "#b42318"}


def _problem(error: dict[str, Any]) -> str:
    """A validation error of the dashboard service as a sentence."""
    field = str(error["field"])
    name = FIELD_NAMES.get(field, "Sort order")
    info = error.get("extra_info") or {}
    if error["error"] == "invalid_date":
        if "maximum" in info:
            return f"{name}: the start of the window is after its end."
        return f"{name}: not a date. Use the form YYYY-MM-DD."
    if "message" in info:
        return f"{name}: {info['message']}."
    if "allowed_values" in info:
        return f"{name}: choose one of {', '.join(map(str, info['allowed_values']))}."
    return f"{name}: not a valid choice."


def _link(request: Request, **changes: str | None) -> str:
    """This page's URL with some parameters replaced (None: removed), the others kept."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    kept += [(k, v) for k, v in changes.items() if v is not None]
    return PATH + ("?" + urlencode(kept) if kept else "")


def _step_label(bucket: Bucket, grain: str, short: bool) -> str:
    day = bucket.start
    if grain == "month":
        return day.strftime("%b %Y") if short else day.strftime("%B %Y")
    if short:
        return f"{day.day} {day:%b}"
    return day.isoformat() if grain == "day" else f"Week of {day.isoformat()}"


def _charts(data: Dashboard) -> dict[str, Markup]:
    # The chart functions escape every text they draw (tests/console/test_charts.py), so their
    # markup goes into the page as it is.
    step = GRAIN_NAMES[data.grain].split(" ")[0].lower()
    nps_points = [charts.Point(_step_label(b, data.grain, True), b.nps.score) for b in data.trend]
    rate_points = [
        charts.Point(_step_label(b, data.grain, True), b.rate.percent if b.rate.delivered else None)
        for b in data.trend
    ]
    bars = [
        charts.Bar(str(rating), count, f"bar-{band}", BAND_FILL[band])
        for rating, count in data.distribution
        for band in (definitions.band(rating),)
    ]
    return {
        "nps": Markup(
            charts.line_chart(
                nps_points,
                chart_id="chart-nps",
                title=f"Net Promoter Score by {step}",
                description="From -100 to 100; the table beside it has every value.",
                y_min=-100,
                y_max=100,
            )
        ),
        "rate": Markup(
            charts.line_chart(
                rate_points,
                chart_id="chart-rate",
                title=f"Response rate by {step}, per cent",
                description="Replies per delivered request; the table beside it has the counts.",
            )
        ),
        "distribution": Markup(
            charts.bar_chart(
                bars,
                chart_id="chart-distribution",
                title="Answers by rating, 0 to 10",
                description="Detractors 0-6, passives 7-8, promoters 9-10.",
            )
        ),
    }


def _sort_links(request: Request, breakdown: Breakdown) -> list[dict[str, Any]]:
    """Each column header: its link (the other direction when already sorted by it)."""
    current = breakdown.sort
    out = []
    for key, header, numeric in COLUMNS:
        first = f"-{key}" if numeric else key
        other = key if numeric else f"-{key}"
        state = None
        if current.removeprefix("-") == key:
            state = "descending" if current.startswith("-") else "ascending"
        target = other if current == first else first
        out.append(
            {
                "key": key,
                "header": header,
                "numeric": numeric,
                "aria_sort": state,
                "href": _link(request, **{f"sort_{breakdown.key}": target})
                + f"#breakdown-{breakdown.key}",
            }
        )
    return out


@router.get("/dashboard")
async def dashboard(request: Request, viewer: SignedIn) -> Response:
    qp = request.query_params
    raw_from, raw_to = qp.get("from_time"), qp.get("to_time")
    raw_surveys = array_param(request, "survey_ids")
    problems: list[str] = []
    data: Dashboard | None = None
    async with read_planned(request) as conn:
        surveys = list((await survey_names(conn, viewer.account_id)).items())
        try:
            data = await metrics.dashboard(
                conn=conn,
                account_id=viewer.account_id,
                raw_from=raw_from,
                raw_to=raw_to,
                raw_survey_ids=raw_surveys,
                raw_grain=qp.get("grain"),
                raw_sorts={key: qp.get(f"sort_{key}") for key in metrics.BREAKDOWNS},
            )
        except ValidationFailed as exc:
            problems = [_problem(e) for e in exc.errors or []]
    today = utcnow().date()
    chosen = set(raw_surveys or [])
    context: dict[str, Any] = {
        "title": "Dashboard",
        "nav": "dashboard",
        "problems": problems,
        "data": data,
        "surveys": [
            {"id": sid, "name": name, "checked": str(sid) in chosen} for sid, name in surveys
        ],
        "form": {
            "from_time": data.start.date().isoformat() if data else (raw_from or ""),
            "to_time": data.end.date().isoformat() if data else (raw_to or ""),
            "grain": data.grain if data else (qp.get("grain") or "week"),
        },
        "grains": GRAIN_NAMES,
        "quick": [
            {
                "label": label,
                "href": _link(
                    request,
                    from_time=(today - dt.timedelta(days=days)).isoformat(),
                    to_time=today.isoformat(),
                ),
            }
            for label, days in QUICK
        ],
    }
    if data is not None:
        context["charts"] = _charts(data)
        context["steps"] = [
            {"label": _step_label(b, data.grain, False), "bucket": b} for b in data.trend
        ]
        context["tables"] = [
            {"breakdown": b, "columns": _sort_links(request, b)} for b in data.breakdowns
        ]
        context["bands"] = [
            ("Promoters", "promoters", "promoter", data.nps.promoters),
            ("Passives", "passives", "passive", data.nps.passives),
            ("Detractors", "detractors", "detractor", data.nps.detractors),
        ]
    return web.page(request, viewer, "dashboard.html", context, 422 if problems else 200)
