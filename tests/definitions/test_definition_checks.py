"""Definitions are validated when built; every error says what to change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from skewless import Entity, FeatureService, FeatureView, Field, FileSource
from skewless.errors import DefinitionError
from skewless.types import Array, Float32, Int64, String

BAD_NAMES = ["1user", "user-id", "user id", "", "user__id", "ünïcode", None, 7]


def source(**kwargs: Any) -> FileSource:
    return FileSource(path="data/stats.parquet", **kwargs)


def user() -> Entity:
    return Entity(name="user", join_keys=["user_id"])


def view(**overrides: Any) -> FeatureView:
    args: dict[str, Any] = {
        "name": "user_stats",
        "entities": [user()],
        "schema": [Field(name="total", dtype=Int64)],
        "source": source(),
    }
    args.update(overrides)
    return FeatureView(**args)


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_identifiers_are_rejected_everywhere(bad: Any) -> None:
    builders = [
        lambda: Entity(name=bad, join_keys=["user_id"]),
        lambda: Entity(name="user", join_keys=[bad]),
        lambda: Field(name=bad, dtype=Int64),
        lambda: view(name=bad),
        lambda: FeatureService(name=bad, features=[view()]),
        lambda: source(timestamp_field=bad),
    ]
    for build in builders:
        with pytest.raises(DefinitionError, match=r"not a valid name|reserves"):
            build()


def test_double_underscore_is_reserved_for_full_feature_names() -> None:
    with pytest.raises(DefinitionError, match=r"reserves for full feature names \(view__feature\)"):
        Field(name="user__total", dtype=Int64)


def test_duplicate_field_is_rejected() -> None:
    schema = [Field(name="total", dtype=Int64), Field(name="total", dtype=Float32)]
    with pytest.raises(DefinitionError, match=r"declares field\(s\) \['total'\] twice"):
        view(schema=schema)


@pytest.mark.parametrize("entities", [None, []])
def test_view_needs_entities(entities: Any) -> None:
    with pytest.raises(DefinitionError, match=r"has no entities: pass entities=\[my_entity\]"):
        view(entities=entities)


def test_entity_given_by_name_is_rejected_with_the_fix() -> None:
    with pytest.raises(DefinitionError, match="pass the Entity object itself"):
        view(entities=["user"])


def test_entities_of_one_view_may_not_repeat_a_join_key() -> None:
    other = Entity(name="customer", join_keys=["user_id"])
    with pytest.raises(DefinitionError, match="repeat a join key"):
        view(entities=[user(), other])


def test_join_keys_must_be_a_list_and_unique() -> None:
    with pytest.raises(DefinitionError, match=r"must be a list, e\.g\. join_keys=\['user_id'\]"):
        Entity(name="user", join_keys="user_id")  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="twice"):
        Entity(name="user", join_keys=["a", "a"])
    assert Entity(name="user").join_keys == ("user",)  # defaults to the name, as in Feast


@pytest.mark.parametrize(
    ("ttl", "stored"),
    [
        (timedelta(days=2), timedelta(days=2)),
        (timedelta(seconds=1, microseconds=5), timedelta(seconds=1, microseconds=5)),
        (None, None),
        (timedelta(0), None),  # zero means unbounded, as None does
    ],
)
def test_ttl_accepts_timedelta_or_none(ttl: Any, stored: Any) -> None:
    assert view(ttl=ttl).ttl == stored


@pytest.mark.parametrize("ttl", [3600, 3600.0, "1d", timedelta(seconds=-1)])
def test_ttl_of_another_type_or_negative_is_rejected(ttl: Any) -> None:
    with pytest.raises(DefinitionError, match="ttl"):
        view(ttl=ttl)


def test_view_needs_a_feature_besides_join_keys() -> None:
    with pytest.raises(DefinitionError, match="has no features"):
        view(schema=[Field(name="user_id", dtype=Int64)])
    typed_key = view(schema=[Field(name="user_id", dtype=String), Field(name="x", dtype=Int64)])
    assert typed_key.feature_names == ("x",)
    assert typed_key.dtype_of("user_id") == String


def test_timestamp_columns_are_not_features() -> None:
    with pytest.raises(DefinitionError, match="timestamp column, not a feature"):
        view(schema=[Field(name="total", dtype=Int64), Field(name="event_timestamp", dtype=Int64)])
    with pytest.raises(DefinitionError, match="timestamp column, not a feature"):
        view(source=source(created_timestamp_column="total"))


def test_source_checks() -> None:
    with pytest.raises(DefinitionError, match="needs a path"):
        FileSource(path="  ")
    with pytest.raises(DefinitionError, match="must be different columns"):
        source(timestamp_field="ts", created_timestamp_column="ts")
    with pytest.raises(DefinitionError, match="not supported"):
        source(file_format="orc")
    with pytest.raises(DefinitionError, match="field_mapping target"):
        source(field_mapping={"Total Spend": "total spend"})
    assert FileSource(path="x/part.CSV").file_format == "csv"
    assert source(field_mapping={"Total Spend": "total"}).field_mapping == {"Total Spend": "total"}
    with pytest.raises(DefinitionError, match="must be a FileSource"):
        view(source="data/stats.parquet")


def test_field_type_must_be_a_skewless_type() -> None:
    with pytest.raises(DefinitionError, match=r"use a type from skewless\.types"):
        Field(name="total", dtype="Int64")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="nest one level only"):
        Array(Array(Int64))
    with pytest.raises(DefinitionError, match="schema entries must be Field"):
        view(schema=[("total", Int64)])


def test_tags_must_map_strings_to_strings() -> None:
    with pytest.raises(DefinitionError, match="must map strings to strings"):
        Entity(name="user", tags={"tier": 1})  # type: ignore[dict-item]
    with pytest.raises(DefinitionError, match="must be a dict"):
        view(tags=["a"])


def test_service_checks() -> None:
    with pytest.raises(DefinitionError, match="lists no features"):
        FeatureService(name="svc", features=[])
    with pytest.raises(DefinitionError, match="more than once"):
        FeatureService(name="svc", features=[view(), view()[["total"]]])
    with pytest.raises(DefinitionError, match=r"has no feature\(s\) \['clicks'\]"):
        view()[["clicks"]]
    with pytest.raises(DefinitionError, match="neither a FeatureView"):
        FeatureService(name="svc", features=["user_stats:total"])
    assert FeatureService(name="svc", features=[view()]).feature_refs == ("user_stats:total",)
