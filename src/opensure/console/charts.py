"""Charts as SVG written on the server: they read without JavaScript and scale to any width.

Pure functions, no framework: each returns one ``<svg>`` element as a string, with
``role="img"``, a ``<title>`` and ``<desc>`` named by ``aria-labelledby``, every text escaped,
sized by ``viewBox`` only (the page's CSS gives it its width). Colours come from classes
(``bar``, ``series``, ``axis``, ``grid-line``, ``chart-label``, plus a class
per bar such as ``bar-promoter``), with SVG presentation attributes as the defaults when no
stylesheet applies: the console's CSP allows no inline ``style``. A chart is always shown with
its data table beside it; the SVG is the picture, the table is what screen readers read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
HEIGHT = 240
LEFT = 44
RIGHT = 8
TOP = 12
BOTTOM = 28
PLOT_W = WIDTH - LEFT - RIGHT
PLOT_H = HEIGHT - TOP - BOTTOM
# At most this many labels along the x axis; the others are in the table.
MAX_X_LABELS = 12
# Defaults when no stylesheet applies (presentation attributes lose to any CSS class rule).
INK = "#333"
GRID = "#ddd"
BAR = "#3b6ea5"


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | float
    css_class: str = ""
    fill: str = BAR


@dataclass(frozen=True)
class Point:
    label: str
    value: int | float | None  # None: no value that step (a gap in the line)


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _number(value: float) -> str:
    """Coordinates with at most two decimals, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _format(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n at least ``value`` (1 for nothing)."""
    if value <= 0:
        return 1
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _open(chart_id: str, title: str, description: str, kind: str) -> list[str]:
    cid = _text(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="xMidYMid meet" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" id="{cid}">',
        f'<title id="{cid}-title">{_text(title)}</title>',
        f'<desc id="{cid}-desc">{_text(description)}</desc>',
    ]


def _y(value: float, low: float, high: float) -> float:
    return TOP + PLOT_H * (high - value) / (high - low)


def _grid(low: float, high: float, ticks: Sequence[float]) -> list[str]:
    out = []
    for tick in ticks:
        y = _number(_y(tick, low, high))
        out.append(
            f'<line class="grid-line" x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        out.append(
            f'<text class="chart-label" x="{LEFT - 6}" y="{y}" text-anchor="end" '
            f'dominant-baseline="middle" font-size="11" fill="{INK}">{_text(_format(tick))}</text>'
        )
    out.append(
        f'<line class="axis" x1="{LEFT}" y1="{TOP + PLOT_H}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + PLOT_H}" stroke="{INK}" stroke-width="1"/>'
    )
    return out


def _x_labels(labels: Sequence[str], centre: Sequence[float]) -> list[str]:
    step = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    return [
        f'<text class="chart-label" x="{_number(x)}" y="{HEIGHT - 8}" text-anchor="middle" '
        f'font-size="11" fill="{INK}">{_text(label)}</text>'
        for i, (label, x) in enumerate(zip(labels, centre, strict=True))
        if i % step == 0
    ]


def _empty(parts: list[str]) -> str:
    parts.append(
        f'<text class="chart-label chart-empty" x="{WIDTH / 2:g}" y="{HEIGHT / 2:g}" '
        f'text-anchor="middle" font-size="14" fill="{INK}">No data for this window</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(
    bars: Sequence[Bar],
    *,
    chart_id: str,
    title: str,
    description: str = "",
    y_max: float | None = None,
) -> str:
    """Vertical bars from zero, their heights proportional to their values (negative values
    are drawn as zero). The y axis runs to ``y_max`` or a round number above the largest bar."""
    parts = _open(chart_id, title, description, "bars")
    if not bars:
        return _empty(parts)
    high = y_max if y_max is not None else nice_max(max(max(b.value for b in bars), 0))
    parts += _grid(0, high, [0, high / 2, high])
    slot = PLOT_W / len(bars)
    width = max(slot * 0.8, 0.5)
    centres = []
    for i, bar in enumerate(bars):
        value = max(min(bar.value, high), 0)
        height = PLOT_H * value / high
        x = LEFT + slot * i + (slot - width) / 2
        centres.append(LEFT + slot * (i + 0.5))
        classes = f"bar {bar.css_class}".strip()
        parts.append(
            f'<rect class="{_text(classes)}" x="{_number(x)}" y="{_number(TOP + PLOT_H - height)}" '
            f'width="{_number(width)}" height="{_number(height)}" fill="{_text(bar.fill)}" '
            f'data-value="{_text(_format(bar.value))}">'
            f"<title>{_text(bar.label)}: {_text(_format(bar.value))}</title></rect>"
        )
    parts += _x_labels([b.label for b in bars], centres)
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(
    points: Sequence[Point],
    *,
    chart_id: str,
    title: str,
    description: str = "",
    y_min: float = 0,
    y_max: float = 100,
) -> str:
    """A line through the points over a fixed range (NPS: -100 to 100, a rate: 0 to 100), a dot
    on each; a step without a value breaks the line."""
    parts = _open(chart_id, title, description, "line")
    if not any(p.value is not None for p in points):
        return _empty(parts)
    ticks = [y_min, (y_min + y_max) / 2, y_max]
    parts += _grid(y_min, y_max, ticks)
    slot = PLOT_W / len(points)
    centres = [LEFT + slot * (i + 0.5) for i in range(len(points))]
    runs: list[list[str]] = [[]]
    dots = []
    for point, x in zip(points, centres, strict=True):
        if point.value is None:
            runs.append([])
            continue
        y = _y(max(min(point.value, y_max), y_min), y_min, y_max)
        runs[-1].append(f"{_number(x)},{_number(y)}")
        dots.append(
            f'<circle class="chart-dot" cx="{_number(x)}" cy="{_number(y)}" r="3" fill="{BAR}" '
            f'data-value="{_text(_format(point.value))}">'
            f"<title>{_text(point.label)}: {_text(_format(point.value))}</title></circle>"
        )
    for run in runs:
        if len(run) > 1:
            parts.append(
                f'<polyline class="series" points="{" ".join(run)}" fill="none" '
                f'stroke="{BAR}" stroke-width="2"/>'
            )
    parts += dots
    parts += _x_labels([p.label for p in points], centres)
    parts.append("</svg>")
    return "\n".join(parts)
