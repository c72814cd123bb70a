"""The HTML drift report: what it says, that it escapes user data, and that its charts render
in headless Chromium from a file:// URL with no console error and no network request."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from browser import Chromium
from hypothesis import given
from hypothesis import strategies as st

from skewless.monitoring import ColumnDrift, Distribution, DriftReport, Quantiles
from skewless.monitoring.html import render_html

HOSTILE = '<script>alert("x")</script>'
HOSTILE_IMG = "<img src=x onerror=\"window.__pwned='yes'\">"
QUOTED = "price \"net\" & 'gross'"
UNICODE = "städte 東京 — ünïcødé"
BINS = tuple(float(i) for i in range(11))


def numerical(
    name: str, drifted: bool, shift: float = 0.0, test: str = "wasserstein"
) -> ColumnDrift:
    reference = (0.02, 0.05, 0.1, 0.15, 0.18, 0.18, 0.15, 0.1, 0.05, 0.02)
    current = reference[-int(shift) :] + reference[: -int(shift)] if shift else reference
    p_value = 0.001 if test == "ks" else None
    return ColumnDrift(
        name, "numerical", test, 0.3 if drifted else 0.02, 0.05 if test == "ks" else 0.1,
        p_value, drifted, 5000, 4000, reference_nulls=3, current_nulls=17,
        distribution=Distribution(reference, current, bins=BINS),
        quantiles=Quantiles((0.05, 0.25, 0.5, 0.75, 0.95), (1.0, 3.0, 5.0, 7.0, 9.0),
                            (1.0 + shift, 3.0 + shift, 5.0 + shift, 7.0 + shift, 9.0 + shift)),
    )  # fmt: skip


def categorical(name: str, drifted: bool, categories: tuple[str, ...]) -> ColumnDrift:
    n = len(categories)
    reference = tuple([1.0 / (n - 1)] * (n - 1) + [0.0])
    current = tuple([0.5 / (n - 1)] * (n - 1) + [0.5]) if drifted else reference
    return ColumnDrift(
        name, "categorical", "jensenshannon", 0.25 if drifted else 0.01, 0.1, None, drifted,
        5000, 4000, current_nulls=2, new_categories=(categories[-1],) if drifted else (),
        missing_categories=(),
        distribution=Distribution(reference, current, categories=categories),
    )  # fmt: skip


def small_report(timeline: bool = True) -> DriftReport:
    columns = [
        numerical("amount", drifted=True, shift=3.0),
        numerical(QUOTED, drifted=False, test="ks"),
        categorical(HOSTILE, drifted=True, categories=("a", "b", HOSTILE_IMG)),
        categorical(UNICODE, drifted=False, categories=("東京", "Zürich", "x")),
    ]
    days = (
        {"day": f"2026-12-0{d}", "share_drifted": s,
         "columns": {c.column: {"statistic": c.statistic * s * 2, "drifted": c.drifted and s > 0.3}
                     for c in columns}}
        for d, s in ((1, 0.0), (2, 0.25), (3, 0.5), (4, 0.5))
    )  # fmt: skip
    return DriftReport(
        {c.column: c for c in columns},
        reference_name="churn_train",
        current_name=f"churn@production {UNICODE}",
        reference_rows=5003,
        current_rows=4017,
        timeline=tuple(days) if timeline else None,
    )


def wide_report(n: int = 50) -> DriftReport:
    columns: list[ColumnDrift] = []
    for i in range(n):
        if i % 5 == 4:
            cats = tuple(f"c{j}" for j in range(3 + i % 25))
            columns.append(categorical(f"cat_{i}", drifted=i % 3 == 0, categories=cats))
        else:
            columns.append(numerical(f"num_{i}", drifted=i % 4 == 0, shift=float(i % 4)))
    return DriftReport({c.column: c for c in columns}, current_name="wide", timeline=None)


def write(report: DriftReport, tmp_path: Path, name: str) -> Path:
    return report.save_html(tmp_path / f"{name}.html")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


# --- the page's text, without a browser ---------------------------------------------------------


def test_page_is_self_contained() -> None:
    page = render_html(small_report().to_dict())
    for tag, attrs in tags(page):
        for attr in ("src", "href", "srcset", "action", "data"):
            value = attrs.get(attr) or ""
            assert not re.match(r"\s*(https?:)?//", value), (tag, attr, value)
        assert tag not in {"link", "iframe", "object", "embed", "base"}, tag
    assert not re.search(r"<(script|link)[^>]+(src|href)\s*=\s*[\"']?\s*(https?:)?//", page)
    scripts = [attrs for tag, attrs in tags(page) if tag == "script"]
    assert len(scripts) == 3 and all("src" not in attrs for attrs in scripts)


def test_every_name_is_escaped() -> None:
    page = render_html(small_report().to_dict())
    for raw in (HOSTILE, HOSTILE_IMG, QUOTED):
        assert raw not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "price &quot;net&quot; &amp; &#x27;gross&#x27;" in page
    assert UNICODE in page  # unicode stays as it is, in a UTF-8 page
    assert '<meta charset="utf-8">' in page
    # only the report's own tags: no <img> from a category name, three scripts, no handlers
    assert [t for t, _ in tags(page) if t == "img"] == []
    assert all(not k.startswith("on") for _, attrs in tags(page) for k in attrs)
    # chart data is JSON with <, > and & escaped, so no name can close its <script> element
    data = page.split('id="skewless-chart-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and ">" not in data and "\\u003cimg src=x" in data


def structure(name: str, category: str) -> list[str]:
    report = DriftReport(
        {name: categorical(name, drifted=True, categories=("a", "b", category))},
        reference_name=name,
        current_name=category,
        timeline=({"day": name, "share_drifted": 1.0, "columns": {name: {"drifted": True}}},),
    )
    return [tag for tag, _ in tags(render_html(report.to_dict()))]


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_no_name_changes_the_page_structure(name: str, category: str) -> None:
    assert structure(name, category) == structure("x", "y")


def test_summary_says_what_drifted() -> None:
    page = render_html(small_report().to_dict())
    assert "Dataset drift detected" in page
    assert "2 of 4 columns drifted (50.0%)" in page
    assert "wasserstein (normed Wasserstein distance)" in page
    assert "jensenshannon (Jensen-Shannon distance)" in page
    assert "Quantile shift" in page and 'id="timeline-chart"' in page
    prediction = DriftReport({"p": numerical("p", drifted=False)}, kind="prediction")
    assert "<h1>Prediction drift report</h1>" in render_html(prediction.to_dict())
    quiet = render_html(DriftReport({"amount": numerical("amount", drifted=False)}).to_dict())
    assert "No dataset drift" in quiet and "Drifted columns: none." in quiet
    assert 'id="timeline-chart"' not in quiet


def test_odd_values_do_not_break_the_page() -> None:
    odd = ColumnDrift(
        "x", "numerical", "psi", float("inf"), 0.1, None, True, 0, 0,
        distribution=Distribution((float("nan"),), (1.0,), bins=(0.0, 1.0)),
    )  # fmt: skip
    bare = ColumnDrift("y", "categorical", "chisquare", 3.2, 0.05, 0.2, False, 10, 10)
    page = render_html(DriftReport({"x": odd, "y": bare}).to_dict())
    assert "No distribution was recorded" in page
    data = page.split('id="skewless-chart-data">', 1)[1].split("</script>", 1)[0]
    assert "NaN" not in data and "Infinity" not in data
    assert render_html(DriftReport({}).to_dict()).count("No columns were compared") == 1


def test_fifty_columns_stay_small() -> None:
    page = render_html(wide_report().to_dict())
    size = len(page.encode())
    assert size < 450_000, f"{size} bytes for 50 columns"
    assert page.count('<canvas id="dist-') == 50


# --- in headless Chromium -----------------------------------------------------------------------

MARKS = """
(canvas) => {
  const chart = Chart.getChart(canvas);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const near = (i, r, g, b) =>
    Math.abs(data[i] - r) < 40 && Math.abs(data[i + 1] - g) < 40 && Math.abs(data[i + 2] - b) < 40;
  let painted = 0, reference = 0, current = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] === 0) continue;
    painted++;
    if (near(i, 76, 120, 168)) reference++;
    if (near(i, 228, 87, 86)) current++;
  }
  const elements = chart
    ? chart.data.datasets.map((_, k) => chart.getDatasetMeta(k).data.length) : [];
  return {id: canvas.id, width: canvas.width, height: canvas.height, painted, reference, current,
          elements, label: canvas.getAttribute("aria-label")};
}
"""


def charts(view: Any) -> list[dict[str, Any]]:
    return [view.page.eval_on_selector(f"#{c}", MARKS) for c in canvas_ids(view)]


def canvas_ids(view: Any) -> list[str]:
    return view.page.eval_on_selector_all("canvas", "cs => cs.map(c => c.id)")


def assert_drawn(chart: dict[str, Any]) -> None:
    assert chart["width"] > 100 and chart["height"] > 100, chart
    assert chart["elements"] and all(n > 0 for n in chart["elements"]), chart
    assert chart["painted"] > 2000, chart
    assert chart["reference"] > 100 and chart["current"] > 100, chart
    assert chart["label"], chart


def test_report_renders_in_chromium(browser: Chromium, tmp_path: Path) -> None:
    path = write(small_report(), tmp_path, "drift-report")
    with browser.open(path.as_uri()) as view:
        page = view.page
        assert page.get_attribute("html", "data-charts-drawn") == "5"
        assert page.title() == f"Data drift report: churn@production {UNICODE}"
        verdict = page.inner_text("#verdict")
        assert "Dataset drift detected: 2 of 4 columns drifted (50.0%)" in verdict
        assert page.inner_text("#drifted-columns") == f"Drifted columns: amount, {HOSTILE}."
        tests_used = page.inner_text("#tests-used")
        assert "jensenshannon" in tests_used and "ks" in tests_used
        rows = page.locator("#summary-table tbody tr")
        assert rows.count() == 4
        assert rows.nth(2).locator("th").inner_text() == HOSTILE
        assert rows.nth(1).locator("th").inner_text() == QUOTED
        assert rows.nth(3).locator("th").inner_text() == UNICODE
        assert page.locator("h3", has_text=UNICODE).count() == 1
        assert page.get_by_role("heading", level=1).inner_text() == "Data drift report"
        assert page.get_by_role("heading", level=3).count() == 4
        assert (
            page.get_by_role("img", name=f"Histogram of column {QUOTED}", exact=False).count() == 1
        )
        assert page.get_by_role("img", name=re.compile(r"^Category shares of column ")).count() == 2
        assert (
            page.get_by_role("img", name=re.compile(r"^Share of columns drifted per day")).count()
            == 1
        )
        assert "0.001" in page.inner_text("#col-1")  # the KS column's p-value
        assert HOSTILE_IMG in page.inner_text("#col-2")  # its new category, shown as text
        assert page.evaluate("window.__pwned") is None
        drawn = charts(view)
        assert [c["id"] for c in drawn] == ["timeline-chart", *(f"dist-{i}" for i in range(4))]
        for chart in drawn[1:]:
            assert_drawn(chart)
        timeline = drawn[0]
        assert timeline["elements"] == [4, 4] and timeline["painted"] > 2000, timeline
        assert page.locator("#timeline-table tbody tr").count() == 5
        shot = view.screenshot("drift-report")
    assert shot.stat().st_size > 10_000
    assert view.console_errors == []
    assert view.blocked == []
    assert all(url.startswith("file:") for url in view.requests), view.requests


def test_fifty_columns_render(browser: Chromium, tmp_path: Path) -> None:
    path = write(wide_report(), tmp_path, "drift-report-50")
    with browser.open(path.as_uri()) as view:
        assert view.page.get_attribute("html", "data-charts-drawn") == "50"
        assert view.page.locator("#timeline-chart").count() == 0
        drawn = charts(view)
        assert len(drawn) == 50
        for chart in drawn:
            assert_drawn(chart)
        view.screenshot("drift-report-50", full_page=False)
    assert view.console_errors == [] and view.blocked == []


def test_summary_reads_without_javascript(browser: Chromium, tmp_path: Path) -> None:
    path = write(small_report(), tmp_path, "drift-report-nojs")
    with browser.open(path.as_uri(), javascript=False) as view:
        page = view.page
        assert page.get_attribute("html", "data-charts-drawn") is None
        assert "Dataset drift detected" in page.inner_text("#verdict")
        assert page.locator("#summary-table tbody tr").count() == 4
        assert page.locator("table[class=quantiles]").count() == 2
        assert not page.locator("#dist-0").is_visible()  # a blank canvas is no figure
        page.locator("#col-2 details summary").click()
        assert HOSTILE_IMG in page.inner_text("#col-2 details table")
        view.screenshot("drift-report-nojs", full_page=False)
    assert view.console_errors == [] and view.blocked == []


def test_no_timeline_no_timeline_chart(browser: Chromium, tmp_path: Path) -> None:
    path = write(small_report(timeline=False), tmp_path, "drift-report-no-timeline")
    with browser.open(path.as_uri()) as view:
        assert view.page.get_attribute("html", "data-charts-drawn") == "4"
        assert view.page.locator("#timeline").count() == 0
    assert view.console_errors == []
