"""``skewless predict-batch``: rows/s and where it wrote; one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")

from models.tiny_repo import empty_mlflow_db

from serving.batch_repo import LoggedRepo, entity_rows, logged_repo
from skewless.cli.main import app
from skewless.serving.batch import batch_context, predict_batch


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedRepo]:
    template = empty_mlflow_db(tmp_path_factory.mktemp("mlflow-template"))
    logged = logged_repo(tmp_path_factory.mktemp("batch-cli") / "repo", template)
    yield logged
    logged.store.close()


def cli(repo: LoggedRepo, *args: object) -> Result:
    return CliRunner().invoke(app, ["--repo", str(repo.store.repo_path), *map(str, args)])


def test_predict_batch_writes_the_file_and_says_where(repo: LoggedRepo, tmp_path: Path) -> None:
    entities = entity_rows(30, seed=21)
    path = tmp_path / "entities.parquet"
    pq.write_table(pa.Table.from_pandas(entities, preserve_index=False), path)
    out = tmp_path / "out" / "scores.parquet"
    result = cli(
        repo,
        "predict-batch",
        "churn@production",
        "--entities",
        path,
        "--out",
        out,
        "--batch-rows",
        8,
    )
    assert result.exit_code == 0, result.output
    assert "scored 30 rows with churn version 1" in result.stdout
    assert "rows/s" in result.stdout and str(out) in result.stdout
    assert "4 batch(es) of at most 8 rows" in result.stdout
    _, expected = predict_batch(batch_context(repo.store), "churn/1", entities)
    assert expected is not None
    assert pq.read_table(out).equals(expected)


@pytest.mark.parametrize(
    ("model", "file", "message"),
    [
        ("nope", "entities.csv", "error: no registered model 'nope'"),
        ("churn", "missing.csv", "error: the entity file"),
        ("churn", "nokey.csv", "error: the entities have no column 'user_id'"),
        ("churn", "bad.parquet", "error: cannot read the entities from"),
        ("churn/x", "entities.csv", "error: model reference"),
    ],
)
def test_errors_are_one_line(
    repo: LoggedRepo, tmp_path: Path, model: str, file: str, message: str
) -> None:
    entity_rows(5).to_csv(tmp_path / "entities.csv", index=False)
    entity_rows(5).rename(columns={"user_id": "uid"}).to_csv(tmp_path / "nokey.csv", index=False)
    (tmp_path / "bad.parquet").write_bytes(b"garbage")
    out = tmp_path / "o.parquet"
    result = cli(repo, "predict-batch", model, "--entities", tmp_path / file, "--out", out)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert not out.exists()


def test_batch_rows_must_be_positive(repo: LoggedRepo, tmp_path: Path) -> None:
    result = cli(
        repo,
        "predict-batch",
        "churn",
        "--entities",
        "x.csv",
        "--out",
        "o.parquet",
        "--batch-rows",
        0,
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: --batch-rows must be at least 1, got 0"
