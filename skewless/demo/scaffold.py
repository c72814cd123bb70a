"""A runnable example repository: configuration, definitions and sample data.

``skewless init`` and ``skewless quickstart`` both lay out this repository; the quickstart
adds more data and a marker file so that it can recreate its own directory safely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from skewless.demo.data import EcommerceData, generate_ecommerce

__all__ = [
    "DEFINITIONS_FILE",
    "QUICKSTART_MARKER",
    "Scaffold",
    "is_quickstart_dir",
    "project_name_for",
    "render_definitions",
    "render_feature_store_yaml",
    "scaffold_repo",
]

DEFINITIONS_FILE = "features.py"
QUICKSTART_MARKER = ".skewless-quickstart"

_FEATURE_STORE_YAML = """\
project: {project}
# The registry (definitions and their version history) is a SQLite file.
registry: data/registry.db
provider: local
online_store:
  type: sqlite
  path: data/online_store.db
offline_store:
  type: duckdb
entity_key_serialization_version: 3
"""

_DEFINITIONS = '''\
"""Feature definitions of the {project} repository.

`skewless apply` imports every Python file of the repository and registers the entities,
feature views and feature services they define.
"""

from datetime import timedelta

from skewless import Entity, FeatureService, FeatureView, Field, FileSource
from skewless.types import Float32, Int64, String

user = Entity(
    name="user",
    join_keys=["user_id"],
    value_type=Int64,  # a key sent as text ("1001") is then an error, not a miss
    description="A customer of the shop",
)

# One row per user and day. `created` breaks ties between rows with the same event time
# (a corrected snapshot wins over the original).
user_stats_source = FileSource(
    name="user_stats_source",
    path="data/user_stats.parquet",
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
)

user_stats = FeatureView(
    name="user_stats",
    entities=[user],
    ttl=timedelta(days=2),
    schema=[
        Field(name="total_purchases", dtype=Int64),
        Field(name="avg_purchase_amount", dtype=Float32),
        Field(name="days_since_last_login", dtype=Int64),
        Field(name="preferred_category", dtype=String),
    ],
    source=user_stats_source,
    online=True,
    tags={{"team": "growth", "domain": "ecommerce"}},
    owner="growth@example.com",
    description="Daily snapshot of each user's purchases and logins",
)

churn_model_v1 = FeatureService(
    name="churn_model_v1",
    features=[user_stats],
    description="Features of the churn classifier",
    owner="growth@example.com",
)
'''

_README = """\
# {project}

A skewless feature repository.

```bash
skewless plan                      # what `apply` would change
skewless apply                     # register the definitions in {definitions}
skewless materialize-incremental   # load the latest values into the online store
skewless list                      # what is registered
skewless describe user_stats       # one definition and its version history
```

`data/user_stats.parquet` holds daily user snapshots and `data/churn_labels.parquet` churn
labels; use the labels as the entity frame of `store.get_historical_features`.
"""

_GITIGNORE = """\
data/*.db
data/*.db-*
__pycache__/
"""


@dataclass(frozen=True)
class Scaffold:
    """What :func:`scaffold_repo` wrote."""

    path: Path
    project: str
    data: EcommerceData
    stats_path: Path
    labels_path: Path


def project_name_for(directory: str | Path) -> str:
    """A valid project name from a directory name (other characters become ``_``).

    >>> project_name_for("my-shop.features")
    'my_shop_features'
    >>> project_name_for("2024")
    'repo_2024'
    """
    name = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", Path(directory).name)).strip("_")
    if not name:
        return "feature_repo"
    return f"repo_{name}" if name[0].isdigit() else name


def render_feature_store_yaml(project: str) -> str:
    """The ``feature_store.yaml`` of a new repository (Feast's layout)."""
    return _FEATURE_STORE_YAML.format(project=project)


def render_definitions(project: str) -> str:
    """The Python definitions file of a new repository."""
    return _DEFINITIONS.format(project=project)


def is_quickstart_dir(path: Path) -> bool:
    """Whether ``path`` was made by the quickstart (it holds the marker file)."""
    return (path / QUICKSTART_MARKER).is_file()


def scaffold_repo(
    path: str | Path,
    *,
    project: str | None = None,
    n_users: int = 500,
    n_days: int = 30,
    labels_per_user: int = 4,
    end: datetime | None = None,
    quickstart: bool = False,
    seed: int = 7,
) -> Scaffold:
    """Create a runnable repository at ``path``, which must not exist or be empty.

    Args:
        path: the new repository's directory.
        project: the project name; defaults to one derived from the directory name.
        n_users: users in the sample data.
        n_days: days of daily snapshots, ending at ``end``.
        labels_per_user: churn labels per user.
        end: the end of the sample history (default: now), so values are fresh online.
        quickstart: mark the directory as the quickstart's, so it may be recreated.
        seed: random seed of the sample data.

    Raises:
        FileExistsError: ``path`` exists and is not an empty directory.
    """
    root = Path(path).expanduser().resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"{root} already exists")
    project = project or project_name_for(root)
    data = generate_ecommerce(
        n_users=n_users, n_days=n_days, end=end, labels_per_user=labels_per_user, seed=seed
    )
    root.mkdir(parents=True, exist_ok=True)
    (root / "feature_store.yaml").write_text(render_feature_store_yaml(project))
    (root / DEFINITIONS_FILE).write_text(render_definitions(project))
    (root / "README.md").write_text(_README.format(project=project, definitions=DEFINITIONS_FILE))
    (root / ".gitignore").write_text(_GITIGNORE)
    stats_path, labels_path = data.write(root / "data")
    if quickstart:
        (root / QUICKSTART_MARKER).write_text("made by `skewless quickstart`; safe to delete\n")
    return Scaffold(root, project, data, stats_path, labels_path)
