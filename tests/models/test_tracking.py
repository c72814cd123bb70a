"""The ``mlflow:`` block of feature_store.yaml and the URIs it resolves to."""

from __future__ import annotations

from pathlib import Path

import pytest

from skewless.config import load_config
from skewless.errors import ConfigError
from skewless.models import ModelRegistryError, tracking_for


def _config(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    (tmp_path / "feature_store.yaml").write_text("project: p\n" + text)
    return load_config(tmp_path)


def test_defaults_do_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, "")
    monkeypatch.chdir(tmp_path.parent)
    t = tracking_for(config)
    assert t.tracking_uri == f"sqlite:///{tmp_path.resolve()}/data/mlflow.db"
    assert t.artifact_location == str(tmp_path.resolve() / "data" / "mlartifacts")
    assert (t.experiment, t.keep_versions) == ("skewless-p", 3)


def test_the_block_sets_uris_experiment_and_retention(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "mlflow:\n  tracking_uri: sqlite:///models/m.db\n"
        "  registry_uri: http://registry:5000\n  experiment: churn\n  keep_versions: 5\n",
    )
    t = tracking_for(config)
    assert t.tracking_uri == f"sqlite:///{tmp_path.resolve()}/models/m.db"
    assert t.registry_uri == "http://registry:5000"
    assert (t.experiment, t.keep_versions) == ("churn", 5)
    remote = tracking_for(_config(tmp_path, "mlflow:\n  tracking_uri: http://mlflow:5000\n"))
    assert remote.is_remote and remote.artifact_location is None


def test_bad_blocks_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mlflow\.tracking"):
        _config(tmp_path, "mlflow:\n  tracking: x\n")
    with pytest.raises(ModelRegistryError, match="keep at least 1"):
        tracking_for(_config(tmp_path, "mlflow:\n  keep_versions: 0\n"))


def test_importing_skewless_models_does_not_import_mlflow() -> None:
    import subprocess
    import sys

    code = "import skewless, skewless.models, sys; print('mlflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
