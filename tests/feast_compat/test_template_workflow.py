"""A repository in the shape of Feast's ``feast init`` template runs its workflow to the end
with only ``feast`` -> ``skewless`` in imports and CLI calls: apply (test_workflow.py in the
repository is imported by the loader and must not run), historical and online retrieval
through feature services, push with ``PushMode``, teardown."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fleet_data import write_fleet_data

from skewless import FeatureStore, LabelView, StreamFeatureView
from skewless.cli.main import app
from skewless.data_source import PushMode
from skewless.definitions import KafkaSource
from skewless.errors import DefinitionError, PushValidationError

TEMPLATE = Path(__file__).parent / "template_repo"
BIN = Path(sys.executable).parent


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    root = tmp_path / "feature_repo"
    shutil.copytree(TEMPLATE, root, ignore=shutil.ignore_patterns("__pycache__", "data"))
    return root, write_fleet_data(root / "data", datetime.now(UTC))


def _latest(frame: pd.DataFrame, vehicle: int, at: datetime) -> pd.Series:
    rows = frame[(frame.vehicle_id == vehicle) & (frame.event_timestamp <= pd.Timestamp(at))]
    return rows.sort_values("event_timestamp").iloc[-1]


def _blocks(out: str, tag: str) -> list[dict[str, Any]]:
    return [json.loads(line[len(tag) + 1 :]) for line in out.splitlines() if line.startswith(tag)]


def _check_online(values: dict[str, Any], frame: pd.DataFrame, at: datetime) -> None:
    for i, vehicle in enumerate([1001, 1002]):
        row = _latest(frame, vehicle, at)
        assert values["vehicle_id"][i] == vehicle
        if "specs" in values:
            assert values["specs"][i] == row.specs  # a dict
            assert values["settings"][i] == json.loads(row.settings)
            assert values["owner_card"][i] == row.owner_card
        bonus = [1000, 1001][i]
        assert values["fuel_plus"][i] == pytest.approx(float(row.fuel_rate) + bonus)


def test_template_workflow_runs_to_the_end_with_the_cli(repo: tuple[Path, pd.DataFrame]) -> None:
    root, frame = repo
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, "test_workflow.py"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "+ feature_view vehicle_labels (new)" in out
    assert "Removed" in out and "registry version" in out  # teardown ran
    history = _blocks(out, "HISTORICAL")
    first = history[0]
    for i, (vehicle, at) in enumerate(
        [
            (1001, datetime(2021, 4, 12, 10, 59, 42, tzinfo=UTC)),
            (1002, datetime(2021, 4, 12, 8, 12, 10, tzinfo=UTC)),
            (1003, datetime(2021, 4, 12, 16, 40, 26, tzinfo=UTC)),
        ]
    ):
        row = _latest(frame, vehicle, at)
        assert first["trips"][i] == row.trips
        assert first["fuel_plus_2"][i] == pytest.approx(float(row.fuel_rate) + [10, 20, 30][i])
    online = _blocks(out, "ONLINE")
    now = datetime.now(UTC)
    _check_online(online[0], frame, now)
    assert sorted(online[1]) == ["fuel_plus", "fuel_plus_2", "fuel_rate", "vehicle_id"]
    _check_online(online[2], frame, now)
    pushed = online[3]
    # The pushed row's values, as the template's push prints them (Map/Json/Struct as dicts).
    assert pushed["fuel_rate"][0] == 1.0 and pushed["trips"][0] == 1000
    assert pushed["specs"][0] == {"body": "truck", "rating": "5.0"}
    assert pushed["settings"][0] == {"max_km": 500, "zones": ["north"]}
    assert pushed["owner_card"][0] == {"name": "owner_1001_updated", "since": "2030"}
    assert pushed["fuel_plus"] == [1001.0, pytest.approx(online[2]["fuel_plus"][1])]
    # The push went offline too: appended to the single-file batch source.
    stored = pd.read_parquet(root / "data" / "vehicle_stats.parquet")
    assert len(stored) == len(frame) + 1
    assert stored.iloc[-1].specs == {"body": "truck", "rating": "5.0"}


def test_template_workflow_in_process(
    repo: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    root, frame = repo
    monkeypatch.chdir(root)
    runner = CliRunner()
    applied = runner.invoke(app, ["apply"])
    assert applied.exit_code == 0, applied.output
    store = FeatureStore(repo_path=".")
    assert {v.name for v in store.list_on_demand_feature_views()} == {
        "fuel_adjusted",
        "fuel_adjusted_fresh",
    }
    assert store.get_on_demand_feature_view("fuel_adjusted").feature_names == (
        "fuel_plus",
        "fuel_plus_2",
    )
    views = {v.name for v in store.list_feature_views()}
    assert {"vehicle_labels", "vehicle_stream_stats"} <= views
    store.materialize_incremental(end_date=datetime.now())
    rows = [{"vehicle_id": 1001, "bonus": 1000, "bonus_2": 2000}]
    rows.append({"vehicle_id": 1002, "bonus": 1001, "bonus_2": 2002})
    values = store.get_online_features(store.get_feature_service("fleet_v2"), rows).to_dict()
    _check_online(values, frame, datetime.now(UTC))
    # A stream view's rows come through its Kafka source's pushes (here: store.push).
    event = {"vehicle_id": 1003, "event_timestamp": datetime.now(UTC), "speed": 80.0}
    store.push("vehicle_stream", [event], to=PushMode.ONLINE)
    speed = store.get_online_features(["vehicle_stream_stats:speed"], [{"vehicle_id": 1003}])
    assert speed.to_dict()["speed"] == [80.0]

    # Feast's write_to_online_store: one view's online rows, checked like a push.
    row = {**_latest(frame, 1004, datetime.now(UTC)).to_dict(), "trips": 4242}
    row["settings"] = {"max_km": 1}
    assert store.write_to_online_store("vehicle_stats", pd.DataFrame([row])) == 1
    written = store.get_online_features(
        ["vehicle_stats:trips", "vehicle_stats:settings"], [{"vehicle_id": 1004}]
    ).to_dict()
    assert written == {"vehicle_id": [1004], "trips": [4242], "settings": [{"max_km": 1}]}
    with pytest.raises(PushValidationError, match="missing column"):
        store.write_to_online_store("vehicle_stats", [{"vehicle_id": 1, "trips": 1}])

    listed = runner.invoke(app, ["feature-views", "list"])
    assert listed.exit_code == 0 and "vehicle_stats_fresh" in listed.output
    dump = json.loads(runner.invoke(app, ["registry-dump"]).output)
    assert dump["project"] == "fleet"
    assert {v["name"] for v in dump["on_demand_feature_views"]} == {
        "fuel_adjusted",
        "fuel_adjusted_fresh",
    }
    kafka = next(v for v in dump["feature_views"] if v["name"] == "vehicle_stream_stats")
    assert kafka["source"]["topic"] == "vehicles"
    kafka_ingest = runner.invoke(app, ["ingest", "vehicle_stream"])
    assert kafka_ingest.exit_code == 1
    assert "reads Kafka topic 'vehicles'" in kafka_ingest.output
    assert "consumes Redis streams" in kafka_ingest.output
    down = runner.invoke(app, ["teardown"])
    assert down.exit_code == 0, down.output
    assert FeatureStore(repo_path=".").list_feature_views() == []
    again = runner.invoke(app, ["teardown"])
    assert again.exit_code == 0 and "Nothing to tear down" in again.output
    store.close()


def test_feast_only_options_refuse_or_warn() -> None:
    from skewless import ConflictPolicy, Entity, FeatureView, Field, FileSource, PushSource
    from skewless.types import Float32, String

    vehicle = Entity(name="vehicle", join_keys=["vehicle_id"])
    source = PushSource(name="p", batch_source=FileSource(path="data/l.parquet"))
    schema = [Field(name="score", dtype=Float32), Field(name="labeler", dtype=String)]
    with pytest.raises(DefinitionError, match="LAST_WRITE_WINS only"):
        LabelView(
            name="l",
            entities=[vehicle],
            schema=schema,
            source=source,
            conflict_policy=ConflictPolicy.MAJORITY_VOTE,
        )
    with pytest.raises(DefinitionError, match="no batch_source"):
        KafkaSource(name="k", bootstrap_servers="h:9092", topic="t")
    with pytest.raises(DefinitionError, match="BatchFeatureView"):
        StreamFeatureView(
            name="s", entities=[vehicle], schema=schema, source=source, aggregations=[object()]
        )
    with pytest.warns(UserWarning, match="version='v2'.*not applied"):
        FeatureView(name="v", entities=[vehicle], schema=schema, source=source, version="v2")
