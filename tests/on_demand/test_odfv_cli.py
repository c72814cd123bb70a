"""``skewless list`` and ``skewless describe`` show on-demand feature views."""

from __future__ import annotations

import re
from pathlib import Path

from odfv_repo import SAMPLE, make_store, spend_py, stats, user, write_stats
from typer.testing import CliRunner

from skewless.cli.main import app


def test_list_and_describe_show_an_on_demand_view(tmp_path: Path) -> None:
    write_stats(tmp_path, SAMPLE)
    store = make_store(tmp_path)
    store.apply([user, stats, spend_py])
    store.close()
    (tmp_path / "feature_store.yaml").write_text(
        "project: odfv\nregistry: registry.db\nonline_store:\n  type: sqlite\n  path: online.db\n"
    )
    runner = CliRunner()
    listed = runner.invoke(app, ["-r", str(tmp_path), "list", "on-demand-feature-views"])
    assert listed.exit_code == 0, listed.stderr
    assert "On-demand feature views" in listed.stdout
    assert re.search(rf"{spend_py.name}\s+│.*stats: ", listed.stdout), listed.stdout

    shown = runner.invoke(app, ["-r", str(tmp_path), "describe", spend_py.name])
    assert shown.exit_code == 0, shown.stderr
    assert f"on-demand feature view {spend_py.name}" in shown.stdout
    assert re.search(r"mode\s+│\s+python", shown.stdout), shown.stdout
