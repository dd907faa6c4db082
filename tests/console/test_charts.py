"""The console's SVG charts: well-formed, accessible, escaped, proportional, empty data handled."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from opensure.console.charts import Bar, Point, bar_chart, line_chart, nice_max

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & \u202e"\'</svg>'


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything but well-formed XML
    assert root.tag == f"{SVG}svg"
    return root


def assert_accessible(root: ET.Element, chart_id: str, title: str) -> None:
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == f"{chart_id}-title {chart_id}-desc"
    title_el = root.find(f"{SVG}title")
    assert title_el is not None and title_el.get("id") == f"{chart_id}-title"
    assert title_el.text == title
    desc = root.find(f"{SVG}desc")
    assert desc is not None and desc.get("id") == f"{chart_id}-desc"
    # Scales by its viewBox: no fixed size, no inline style anywhere.
    assert root.get("viewBox") == "0 0 640 240"
    assert root.get("width") is None and root.get("height") is None
    assert all(el.get("style") is None for el in root.iter())


def test_bar_heights_are_proportional_to_the_values() -> None:
    values = [0, 3, 10, 7, 1]
    svg = bar_chart(
        [Bar(str(i), v, "bar-promoter") for i, v in enumerate(values)],
        chart_id="dist",
        title="Ratings 0-10",
        description="How many answers gave each rating",
    )
    root = parse(svg)
    assert_accessible(root, "dist", "Ratings 0-10")
    rects = root.findall(f"{SVG}rect")
    assert [float(r.get("data-value", "")) for r in rects] == values
    heights = [float(r.get("height", "")) for r in rects]
    tallest = max(heights)
    for value, height in zip(values, heights, strict=True):
        assert abs(height - tallest * value / 10) < 0.02
    # All bars stand on the same baseline.
    bottoms = {round(float(r.get("y", "")) + float(r.get("height", "")), 1) for r in rects}
    assert len(bottoms) == 1
    assert all(
        "bar" in r.get("class", "").split() and "bar-promoter" in r.get("class", "") for r in rects
    )
    # Each bar names its label and value for a pointer hover.
    assert [r.find(f"{SVG}title").text for r in rects][2] == "2: 10"  # type: ignore[union-attr]


def test_the_axis_runs_to_a_round_number_or_the_given_maximum() -> None:
    assert [nice_max(v) for v in (0, 1, 3, 7, 10, 11, 230, 0.4)] == [1, 1, 5, 10, 10, 20, 250, 0.5]
    root = parse(bar_chart([Bar("a", 50)], chart_id="c", title="t", y_max=100))
    (rect,) = root.findall(f"{SVG}rect")
    full = parse(bar_chart([Bar("a", 100)], chart_id="c", title="t", y_max=100))
    (full_rect,) = full.findall(f"{SVG}rect")
    assert abs(float(rect.get("height", "")) * 2 - float(full_rect.get("height", ""))) < 0.02


def test_every_text_is_escaped() -> None:
    svg = bar_chart(
        [Bar(HOSTILE, 4, css_class='x" onclick="y')],
        chart_id='id"><script>',
        title=HOSTILE,
        description=HOSTILE,
    )
    assert "<script>" not in svg
    assert 'onclick="y' not in svg
    root = parse(svg)
    assert root.find(f"{SVG}title").text == HOSTILE  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == HOSTILE  # type: ignore[union-attr]
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert HOSTILE in labels
    line = line_chart([Point(HOSTILE, 5)], chart_id="l", title=HOSTILE)
    assert "<script>" not in line
    assert any(t.text == HOSTILE for t in parse(line).iter(f"{SVG}text"))


def test_empty_data_says_so() -> None:
    for svg in (
        bar_chart([], chart_id="e", title="Nothing"),
        line_chart([], chart_id="e", title="Nothing"),
        line_chart([Point("Mon", None), Point("Tue", None)], chart_id="e", title="Nothing"),
    ):
        root = parse(svg)
        assert_accessible(root, "e", "Nothing")
        assert root.find(f"{SVG}rect") is None and root.find(f"{SVG}polyline") is None
        assert [t.text for t in root.iter(f"{SVG}text")] == ["No data for this window"]
    # All zeros: bars of height zero on a 0-1 axis, no division by zero.
    root = parse(bar_chart([Bar("a", 0), Bar("b", 0)], chart_id="z", title="Zeros"))
    assert [float(r.get("height", "")) for r in root.findall(f"{SVG}rect")] == [0, 0]


def test_line_places_points_by_value_and_breaks_at_gaps() -> None:
    points = [
        Point("w1", -100),
        Point("w2", 0),
        Point("w3", None),
        Point("w4", 100),
        Point("w5", 50),
    ]
    root = parse(line_chart(points, chart_id="nps", title="NPS by week", y_min=-100, y_max=100))
    assert_accessible(root, "nps", "NPS by week")
    dots = root.findall(f"{SVG}circle")
    assert [d.get("data-value") for d in dots] == ["-100", "0", "100", "50"]
    ys = [float(d.get("cy", "")) for d in dots]
    assert ys[0] > ys[1] > ys[3] > ys[2]  # -100 lowest on screen (largest y), 100 highest
    assert abs((ys[0] - ys[1]) - (ys[1] - ys[2])) < 0.02  # equal steps for equal differences
    lines = root.findall(f"{SVG}polyline")
    assert [len(p.get("points", "").split()) for p in lines] == [2, 2]
    xs = [float(d.get("cx", "")) for d in dots]
    assert xs == sorted(xs)


def test_many_points_keep_the_axis_readable() -> None:
    points = [Point(f"2021-01-{i:02d}", i) for i in range(1, 366)]
    svg = line_chart(points, chart_id="d", title="Daily")
    root = parse(svg)
    axis_labels = [t.text for t in root.iter(f"{SVG}text") if t.text and re.match(r"2021", t.text)]
    assert 1 < len(axis_labels) <= 12
    assert len(root.findall(f"{SVG}circle")) == 365
