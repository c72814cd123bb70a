"""The UI in headless Chromium, served by a real ``skewless ui`` process: a reader searches,
opens a view, follows its lineage to the model version; every page draws with no console
error, asks nothing of any host but the UI, and has no critical accessibility violation
(axe-core). Screenshots are kept as artifacts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser import Chromium, PageView

from ui.ui_repo import UiRepo
from ui.ui_server import UiServerProcess

AXE_PAGES = [
    "/",
    "/search?q=x1",
    "/views",
    "/views/user_stats",
    "/views/user_stats/diff?a=1&b=2",
    "/entities/user",
    "/services/scoring",
    "/on-demand/x_total",
    "/push-sources/clicks_push",
    "/datasets/churn_train",
    "/freshness",
    "/lineage?node=feature_view%3Auser_stats",
    "/impact?feature=user_stats%3Ax1",
    "/models",
    "/models/churn",
    "/models/churn/1",
    "/experiments",
    "/experiments/churn-ab",
    "/pipelines",
    "/views/ghost",
]


@pytest.fixture(scope="module")
def server(ui_repo: UiRepo) -> Iterator[UiServerProcess]:
    process = UiServerProcess(ui_repo.root)
    yield process
    process.stop()


def _clean(view: PageView, server: UiServerProcess, status: int = 200) -> None:
    # Chromium logs a page answered 404 as a console error; that page is meant to be a 404
    expected = f"status of {status}" if status != 200 else None
    errors = [e for e in view.console_errors if expected is None or expected not in e]
    assert errors == []
    assert view.blocked == []
    assert all(url.startswith(server.url + "/") for url in view.requests), view.requests


def test_search_view_lineage_model(browser: Chromium, server: UiServerProcess) -> None:
    with browser.open(server.url + "/", allow=(server.url,)) as view:
        page = view.page
        assert page.locator("h1").inner_text() == "Catalog of project serving"
        page.fill("#home-q", "x1")
        page.click(".big-search button")
        page.wait_for_url("**/search?q=x1")
        view.screenshot("ui-1-search")
        assert page.locator("#results").get_by_role("link", name="x_total").count() == 0
        page.locator("#results").get_by_role("link", name="user_stats").click()
        page.wait_for_url("**/views/user_stats")
        assert page.locator("h1").inner_text() == "Feature view user_stats"
        assert page.locator("#schema tbody tr").count() == 4
        assert "no skew" in page.locator("main").inner_text()
        view.screenshot("ui-2-view")
        page.click("#view-lineage")
        page.wait_for_url("**/lineage?node=feature_view%3Auser_stats")
        graph = page.locator("#lineage-graph svg")
        assert graph.locator("a").count() >= 7
        assert graph.bounding_box()["width"] > 600  # type: ignore[index]
        view.screenshot("ui-3-lineage")
        graph.locator('a[aria-label="model version churn/1"]').click()
        page.wait_for_url("**/models/churn/1")
        assert page.locator("h1").inner_text() == "Model churn version 1"
        assert page.locator("#trained-on").inner_text() == "churn_train"
        assert page.locator("#inputs tbody tr").count() == 4
        view.screenshot("ui-4-model-version")
        assert page.evaluate("window.__pwned") is None
    _clean(view, server)


def test_dataset_charts_draw(browser: Chromium, server: UiServerProcess) -> None:
    with browser.open(server.url + "/datasets/churn_train", allow=(server.url,)) as view:
        drawn: Any = view.page.evaluate(
            """() => [...document.querySelectorAll('canvas')].map(c => ({
                id: c.id, drawn: c.dataset.drawn === 'true', chart: !!Chart.getChart(c),
                bars: Chart.getChart(c) ? Chart.getChart(c).getDatasetMeta(0).data.length : 0,
                width: c.getBoundingClientRect().width}))"""
        )
        view.screenshot("ui-5-dataset")
    assert len(drawn) >= 5  # x1, x2, x3, visits, churned (numeric histograms)
    for chart in drawn:
        assert chart["drawn"] and chart["chart"] and chart["bars"] > 0 and chart["width"] > 100
    _clean(view, server)


@pytest.mark.parametrize("url", AXE_PAGES)
def test_no_critical_accessibility_violation(
    browser: Chromium, server: UiServerProcess, url: str
) -> None:
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    with browser.open(server.url + url, allow=(server.url,)) as view:
        results = axe.Axe().run(view.page)
    violations = results.response["violations"]
    critical = [
        (v["id"], v["help"], len(v["nodes"])) for v in violations if v["impact"] == "critical"
    ]
    assert critical == []
    serious = [v["id"] for v in violations if v["impact"] == "serious"]
    assert serious == [], serious
    _clean(view, server, 404 if url == "/views/ghost" else 200)
