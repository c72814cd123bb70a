"""From data to picture: ``drift_report`` on real frames, saved with ``save_html``, drawn in
headless Chromium with one chart per column and the drifted ones named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from browser import Chromium

from skewless.monitoring import drift_report


def test_a_real_report_renders_with_a_chart_per_column(
    browser: Chromium,
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(7)
    n = 5_000
    reference = pd.DataFrame(
        {
            "amount": rng.lognormal(3, 1, n),
            "age": rng.normal(40, 10, n),
            "plan": rng.choice(["free", "pro", "team"], n, p=[0.6, 0.3, 0.1]),
        }
    )
    current = pd.DataFrame(
        {
            "amount": rng.lognormal(3.6, 1, n),  # drifted
            "age": rng.normal(40, 10, n),
            "plan": rng.choice(["free", "pro", "team", "enterprise"], n, p=[0.2, 0.3, 0.1, 0.4]),
        }
    )
    report = drift_report(reference, current)
    assert report.drifted_columns == ["amount", "plan"]
    path = report.save_html(tmp_path / "drift.html")
    with browser.open(path.as_uri()) as view:
        page = view.page
        assert page.get_attribute("html", "data-charts-drawn") == "3"
        assert "2 of 3 columns drifted" in page.inner_text("#verdict")
        assert page.inner_text("#drifted-columns") == "Drifted columns: amount, plan."
        assert "enterprise" in page.inner_text("body")  # the new category is shown
        shot = view.screenshot("drift-report-from-frames")
    assert shot.stat().st_size > 10_000
    assert view.console_errors == [] and view.blocked == []
