"""Server-side time of the web UI's pages over a generated registry of 500 feature views.

The registry (``--views`` views over 50 entities, a feature service per 5 views, every view
applied twice so each has a version history) is written through the registry's own API
(``Registry.commit``). Each page is requested ``--repeat`` times in-process; the time is the
handler's, from the request's arrival to the response's first byte, as the app's timing
middleware records it (``Server-Timing``). Floors measured in the same run: the same app
answering a static file (routing, middleware and the test client) and the registry snapshot
read alone (the one read every page makes). The target is a p95 under 300 ms per page.

    .venv/bin/python bench/ui_pages.py            # 500 views, 50 requests per page
    .venv/bin/python bench/ui_pages.py --quick    # 50 views, 5 requests per page
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _results import conditions, replace_section

from skewless import Entity, FeatureService, FeatureView, Field, FileSource
from skewless.config import RepoConfig
from skewless.datasets import DatasetCatalog
from skewless.registry import ObjectChange, Registry
from skewless.types import Float64, Int64
from skewless.ui import UiSources, create_app

TARGET_MS = 300.0


def generated_registry(root: Path, views: int) -> Registry:
    """A registry of ``views`` feature views, 50 entities and a service per 5 views."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "feature_store.yaml").write_text("project: generated\n")
    registry = Registry(RepoConfig(project="generated", repo_path=str(root)))
    entities = [Entity(name=f"e_{i}", join_keys=[f"k_{i}"], value_type=Int64) for i in range(50)]

    def view(i: int, ttl_days: int) -> FeatureView:
        return FeatureView(
            name=f"v_{i:04d}",
            entities=[entities[i % 50]],
            ttl=timedelta(days=ttl_days),
            schema=[Field(name=f"f{j}", dtype=Float64) for j in range(8)],
            source=FileSource(path=f"data/v_{i:04d}.parquet", timestamp_field="ts"),
            description=f"generated view {i}",
            owner=f"team{i % 7}@example.com",
            tags={"team": f"t{i % 7}", "tier": "gold" if i % 3 else "silver"},
        )

    first = [view(i, 1) for i in range(views)]
    services = [
        FeatureService(name=f"s_{i // 5:03d}", features=[v[["f0", "f1"]] for v in first[i : i + 5]])
        for i in range(0, views, 5)
    ]
    registry.commit(
        [ObjectChange("entity", e.name, "add", None, new=e) for e in entities]
        + [ObjectChange("feature_view", v.name, "add", None, new=v) for v in first]
        + [ObjectChange("feature_service", s.name, "add", None, new=s) for s in services]
    )
    held = registry.object_versions()
    registry.commit(
        [
            ObjectChange("feature_view", v.name, "change", held[("feature_view", v.name)],
                         new=view(i, 2))
            for i, v in enumerate(first)
        ]
    )  # fmt: skip
    return registry


def pages(views: int) -> dict[str, str]:
    """A URL of each page type."""
    mid = f"v_{views // 2:04d}"
    return {
        "home": "/",
        "search": "/search?q=f3&tag=tier%3Dgold",
        "views listing": "/views",
        "view": f"/views/{mid}",
        "diff": f"/views/{mid}/diff?a=1&b=2",
        "entity": "/entities/e_1",
        "service": "/services/s_001",
        "freshness": "/freshness",
        "lineage": f"/lineage?node=feature_view%3A{mid}",
        "impact": f"/impact?feature={mid}%3Af0",
        "models": "/models",
        "experiments": "/experiments",
        "pipelines": "/pipelines",
    }


def measure(views: int, repeat: int) -> list[tuple[str, float, float]]:
    """``(page, p95 ms, median ms)`` per page type, then the two floors."""
    from starlette.testclient import TestClient

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        registry = generated_registry(root, views)
        clock = lambda: datetime.now(UTC)  # noqa: E731
        app = create_app(
            UiSources(registry, DatasetCatalog(registry, root, clock), None, root, clock)
        )
        timings = app.state.timings
        rows = []
        with TestClient(app) as client:
            for name, url in [*pages(views).items(), ("floor: static file", "/static/ui.css")]:
                assert client.get(url).status_code == 200, url  # warm the caches
                timings.clear()
                for _ in range(repeat):
                    client.get(url)
                route = next(iter(timings.by_route))
                values = sorted(timings.by_route[route])
                rows.append((name, timings.p95(route) or 0.0, values[len(values) // 2]))
        snapshot_ms = []
        for _ in range(repeat):
            started = time.perf_counter()
            registry.snapshot()
            snapshot_ms.append((time.perf_counter() - started) * 1000)
        snapshot_ms.sort()
        rows.append(
            ("floor: registry snapshot read", snapshot_ms[int(0.95 * (repeat - 1))],
             snapshot_ms[repeat // 2])
        )  # fmt: skip
        registry.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="50 views, 5 requests per page")
    args = parser.parse_args()
    views, repeat = (50, 5) if args.quick else (args.views, args.repeat)
    rows = measure(views, repeat)
    lines = [
        "## UI pages (bench/ui_pages.py)",
        "",
        f"`python bench/ui_pages.py` ({views} views, {repeat} requests per page; {conditions()})."
        f" Server-side time per request; target p95 < {TARGET_MS:.0f} ms.",
        "",
        "| page | p95 ms | median ms |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {p95:.2f} | {median:.2f} |" for name, p95, median in rows]
    print("\n".join(lines))
    slow = [name for name, p95, _ in rows if p95 >= TARGET_MS]
    if not args.quick:
        replace_section("## UI pages", lines)
    if slow:
        print(f"over {TARGET_MS:.0f} ms: {', '.join(slow)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
