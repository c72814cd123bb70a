"""The public surface is pinned: a change here is a change users see."""

from __future__ import annotations

import skewless
import skewless.types


def test_top_level_names() -> None:
    assert sorted(skewless.__all__) == [
        "Aggregation",
        "BatchFeatureView",
        "Client",
        "ConflictPolicy",
        "Entity",
        "FeatureService",
        "FeatureStore",
        "FeatureView",
        "FeatureViewProjection",
        "Field",
        "FileSource",
        "KafkaSource",
        "LabelView",
        "OnDemandFeatureView",
        "PredictionClient",
        "Project",
        "PushSource",
        "RequestSource",
        "StreamFeatureView",
        "on_demand_feature_view",
    ]
    for name in skewless.__all__:
        assert getattr(skewless, name) is not None


def test_types_module_names() -> None:
    assert sorted(skewless.types.__all__) == [
        "Array",
        "Bool",
        "Bytes",
        "DType",
        "Float32",
        "Float64",
        "Int32",
        "Int64",
        "Json",
        "Map",
        "String",
        "Struct",
        "UnixTimestamp",
    ]


def test_experiments_module_names() -> None:
    import skewless.experiments

    assert sorted(skewless.experiments.__all__) == [
        "EpsilonGreedy",
        "MeanResult",
        "PowerResult",
        "ProportionResult",
        "SampleSize",
        "SequentialResult",
        "ThompsonSampling",
        "UCB1",
        "bandit_from_dict",
        "mean_test",
        "power",
        "proportion_test",
        "sample_size",
        "sequential_mean_test",
        "sequential_test",
    ]
    for name in skewless.experiments.__all__:
        assert getattr(skewless.experiments, name) is not None


def test_feast_style_imports_work() -> None:
    from skewless import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource
    from skewless.types import Array, Float32, Int64, String

    assert {Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource}
    assert str(Array(Float32)) == "Array(Float32)" and Int64 != String


def test_layering_lower_layers_never_import_higher_ones() -> None:
    """DESIGN.md's import direction, checked on the source text of every module."""
    import ast
    from pathlib import Path

    root = Path(skewless.__file__).parent
    order = {
        "skewless._types": 1,
        "skewless.errors": 1,
        "skewless.config": 1,
        "skewless._time": 1,
        "skewless._files": 1,
        "skewless.definitions": 2,
        "skewless.transforms": 2,
        "skewless.embeddings": 2,
        "skewless.registry": 3,
        "skewless.offline": 4,
        "skewless.online": 4,
        "skewless._contracts": 4,
    }

    def layer(module: str) -> int:
        for prefix, level in order.items():
            if module == prefix or module.startswith(prefix + "."):
                return level
        return 5

    bad = []
    for path in root.rglob("*.py"):
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        own = layer(module)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                if target.startswith("skewless") and layer(target) > own:
                    bad.append(f"{module} imports {target}")
    assert bad == []
