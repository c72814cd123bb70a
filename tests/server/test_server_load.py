"""A bounded load test on loopback: no errors and no memory growth under sustained load."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import psutil
import pytest
from feature_server import ServerProcess, make_repo

WARMUP_S = 10
LOAD_S = int(os.environ.get("SKEWLESS_LOAD_SECONDS", "60"))
MAX_GROWTH_MB = 16.0

# Rotates through one-entity, ten-entity and feature-service reads.
LUA = r"""
local bodies = {
  '{"features":["user_stats:purchases","user_stats:amount","user_stats:ratio","user_stats:category","user_stats:active","user_stats:logins"],"entities":{"user_id":[7]}}',
  '{"features":["user_stats:purchases","user_stats:category"],"entities":{"user_id":[1,2,3,4,5,6,7,8,9,999]}}',
  '{"feature_service":"shop_v1","entities":{"user_id":[3]},"full_feature_names":true}',
}
local i = 0
local headers = {["Content-Type"] = "application/json"}
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/get-online-features", headers, bodies[i])
end
"""


def _wrk(url: str, seconds: int, script: Path) -> str:
    result = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _requests(output: str) -> int:
    match = re.search(r"(\d+) requests in", output)
    assert match, output
    return int(match.group(1))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_sustained_load_has_no_errors_and_no_memory_growth(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    script = tmp_path / "bodies.lua"
    script.write_text(LUA)
    with ServerProcess(repo) as server:
        process = psutil.Process(server.pid)
        warm = _wrk(server.url, WARMUP_S, script)
        rss_before = process.memory_info().rss
        out = _wrk(server.url, LOAD_S, script)
        rss_after = process.memory_info().rss
        metrics = httpx.get(server.url + "/metrics").text
    for report in (warm, out):
        assert "Non-2xx" not in report, report
        assert "Socket errors" not in report, report
    assert _requests(out) > 1000 * LOAD_S / 10, out  # the server was actually loaded
    assert not re.search(r'status="5\d\d"', metrics), metrics
    growth_mb = (rss_after - rss_before) / 2**20
    assert growth_mb < MAX_GROWTH_MB, f"RSS grew {growth_mb:.1f} MB under load\n{out}"
