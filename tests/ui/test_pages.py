"""Every page of the UI in-process: what it says, that user text is escaped, and that unknown
names and bad parameters are 4xx pages (JSON under /api/), never a 500."""

from __future__ import annotations

import html
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ui.ui_repo import HOSTILE

PAGES = {
    "/": ["Catalog of project serving", "feature views"],
    "/search?q=growth": ["user_stats", "Kind", "Owner"],
    "/search?q=x1": ["user_stats", "scoring"],
    "/search?q=x_sum": ["x_total", "derived"],
    "/search?q=&tag=team%3Dads": ["clicks"],
    "/views": ["user_stats", "clicks"],
    "/views/user_stats": ["Schema", "x1", "Float64", "data/user_stats.parquet", "31 days",
                          "Version history", "scoring", "churn/1", "no skew"],
    "/views/user_stats/diff?a=1&b=2": ["ttl_seconds", "2592000", "2678400", "owner"],
    "/entities/user": ["user_id", "user_stats"],
    "/services/scoring": ["user_stats", "churn_train", "churn/1"],
    "/services/visits_only": ["visits"],
    "/on-demand/x_total": ["x_sum", "x1, x2", "derived"],
    "/push-sources/clicks_push": ["data/clicks.parquet", "clicks"],
    "/datasets/churn_train": ["churn_train", "scoring", "Distributions", "x1", "churn/1"],
    "/freshness": ["user_stats", "clicks", "no skew", "never audited"],
    "/lineage": ["<svg", "churn@production"],
    "/lineage?node=feature_view%3Auser_stats": ["<svg", "churn_train", "churn-ab"],
    "/impact?feature=user_stats%3Avisits": ["visits_only", "scoring", "churn/1"],
    "/models": ["churn", "production"],
    "/models/churn": ["Production", "churn_train", "churn-ab"],
    "/models/churn/1": ["churn_train", "user_stats:x1", "Not gated yet", "churn-ab"],
    "/experiments": ["churn-ab", "running"],
    "/experiments/churn-ab": ["control", "challenger", "churn@production"],
    "/pipelines": ["No pipelines applied yet"],
}  # fmt: skip


@pytest.mark.parametrize("url", sorted(PAGES))
def test_page_says_what_it_shows(ui_client: Any, url: str) -> None:
    response = ui_client.get(url)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    for text in PAGES[url]:
        assert text in response.text, f"{url} lacks {text!r}"
    assert "server-timing" in response.headers


def test_user_text_is_escaped(ui_client: Any) -> None:
    for url in ("/views/user_stats", "/search?q=growth", "/views", f"/search?q={HOSTILE}"):
        page = ui_client.get(url, params=None).text
        assert HOSTILE not in page
    page = ui_client.get("/views/user_stats").text
    assert "&lt;script&gt;window.__pwned" in page


def test_dataset_charts_are_data_not_markup(ui_client: Any) -> None:
    page = ui_client.get("/datasets/churn_train").text
    data = page.split('id="ui-chart-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and '"column": "x1"' in data
    assert '<script src="/static/chart.umd.min.js"></script>' in page


def test_static_files_are_served_and_nothing_else(ui_client: Any) -> None:
    assert ui_client.get("/static/chart.umd.min.js").status_code == 200
    assert ui_client.get("/static/ui.js").headers["content-type"].startswith("text/javascript")
    for url in ("/static/..%2f..%2fpyproject.toml", "/static/app.py", "/static/%2e%2e"):
        assert ui_client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/views/ghost", 404, "no feature view named 'ghost'"),
        ("/views/ghost/diff", 404, "no feature view named 'ghost'"),
        ("/views/user_stats/diff?a=1&b=9", 404, "has no version 9"),
        ("/views/user_stats/diff?a=x", 400, "must be a version number"),
        ("/views/user_stats/diff?a=2&b=2", 400, "pick two different versions"),
        ("/entities/..%2f..%2fetc", 404, "no page here"),
        ("/datasets/..%2fregistry.db", 404, "no page here"),
        ("/datasets/registry.db", 404, "no saved dataset named"),
        ("/services/ghost", 404, "no feature service named"),
        ("/on-demand/ghost", 404, "no on-demand feature view named"),
        ("/push-sources/ghost", 404, "no push source named"),
        ("/models/ghost", 404, "no registered model named"),
        ("/models/churn/99", 404, "has no version 99"),
        ("/models/churn/x", 400, "is not a number"),
        ("/experiments/ghost", 404, "no experiment named"),
        ("/pipelines/ghost", 404, "no pipeline named"),
        ("/runs/ghost", 404, "no pipeline run"),
        ("/lineage?node=feature_view%3Aghost", 404, "nothing called"),
        ("/lineage?node=bogus", 400, "must be kind:name"),
        ("/impact?feature=ghost", 404, "no feature view or on-demand view named"),
        ("/search?kind=bogus", 400, "is not a kind"),
        ("/search?q=" + "x" * 600, 400, "too long"),
        ("/no/such/page", 404, "no page here"),
    ],
)
def test_bad_input_is_a_clear_4xx_page(ui_client: Any, url: str, status: int, says: str) -> None:
    response = ui_client.get(url)
    assert response.status_code == status, response.text[:300]
    assert says in html.unescape(response.text)
    assert response.headers["content-type"].startswith("text/html")


def test_api_errors_are_json(ui_client: Any) -> None:
    missing = ui_client.get("/api/impact?feature=ghost")
    assert missing.status_code == 404 and "ghost" in missing.json()["error"]
    assert ui_client.get("/api/impact").status_code == 400
    found = ui_client.get("/api/impact", params={"feature": "user_stats:x2"}).json()
    assert found["services"] == ["derived", "scoring"]
    graph = ui_client.get("/api/lineage", params={"node": "model_version:churn/1"}).json()
    assert {"source": "model_version:churn/1", "target": "alias:churn@production",
            "features": []} in graph["edges"]  # fmt: skip


def test_experiment_analysis_page(ui_client: Any) -> None:
    page = ui_client.get("/experiments/churn-ab/analysis")
    assert page.status_code == 200 and "Experiment churn-ab" in page.text


def test_drift_without_a_prediction_log_is_a_404(ui_client: Any) -> None:
    response = ui_client.get("/models/churn/drift")
    assert response.status_code == 404
    assert "no drift report for model 'churn'" in html.unescape(response.text)
    assert ui_client.get("/models/churn/drift?hours=0").status_code == 400


@settings(max_examples=60)
@given(text=st.text(max_size=40))
def test_no_name_or_text_makes_a_500(ui_client: Any, text: str) -> None:
    for path in ("/views/{}", "/datasets/{}", "/models/{}", "/experiments/{}", "/entities/{}"):
        quoted = __import__("urllib.parse").parse.quote(text, safe="") or "x"
        assert ui_client.get(path.format(quoted)).status_code < 500
    for params in ({"q": text}, {"feature": text}, {"node": text}):
        for url in ("/search", "/impact", "/lineage", "/api/impact"):
            assert ui_client.get(url, params=params).status_code < 500
