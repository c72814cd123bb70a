"""Every definition survives ``to_spec`` -> JSON -> ``from_spec`` (and the registry) unchanged."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless import Entity, FeatureService, FeatureView, Field, FileSource
from skewless.config import RepoConfig
from skewless.definitions import definition_hash, from_spec, kind_of
from skewless.registry import ObjectChange, Registry, data_version
from skewless.types import (
    Array,
    Bool,
    Bytes,
    Float32,
    Float64,
    Int32,
    Int64,
    String,
    UnixTimestamp,
)

PRIMITIVES = [Int32, Int64, Float32, Float64, String, Bool, Bytes, UnixTimestamp]

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True).filter(
    lambda s: "__" not in s
)
texts = st.text(max_size=24)
tags = st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3)
dtypes = st.sampled_from(PRIMITIVES) | st.sampled_from(PRIMITIVES).map(Array)


@st.composite
def entities(draw: st.DrawFn, keys: list[str] | None = None) -> Entity:
    return Entity(
        name=draw(names),
        join_keys=keys or draw(st.lists(names, min_size=1, max_size=3, unique=True)),
        description=draw(texts),
        tags=draw(tags),
        owner=draw(texts),
        value_type=draw(st.none() | dtypes),
    )


@st.composite
def sources(draw: st.DrawFn) -> FileSource:
    timestamp = draw(names)
    created = draw(st.just("") | names.filter(lambda n: n != timestamp))
    return FileSource(
        path=draw(st.text(min_size=1, max_size=30).filter(str.strip)),
        timestamp_field=timestamp,
        created_timestamp_column=created,
        field_mapping=draw(st.dictionaries(st.text(max_size=10), names, max_size=3)),
        name=draw(st.just("") | names),
        file_format=draw(st.none() | st.sampled_from(["parquet", "csv"])),
        description=draw(texts),
        tags=draw(tags),
        owner=draw(texts),
    )


ttls = st.none() | st.builds(
    timedelta,
    seconds=st.integers(0, 50 * 365 * 86_400),
    microseconds=st.integers(0, 999_999),
)


@st.composite
def views(draw: st.DrawFn) -> FeatureView:
    source = draw(sources())
    reserved = {source.timestamp_field, source.created_timestamp_column}
    all_keys = draw(
        st.lists(names.filter(lambda n: n not in reserved), min_size=1, max_size=4, unique=True)
    )
    split = draw(st.integers(1, len(all_keys)))
    groups = [all_keys[:split], all_keys[split:]] if split < len(all_keys) else [all_keys]
    ents = [draw(entities(keys=g)) for g in groups]
    if len({e.name for e in ents}) != len(ents):
        ents = ents[:1]
    keys = [k for e in ents for k in e.join_keys]
    feature_names = draw(
        st.lists(
            names.filter(lambda n: n not in reserved and n not in keys),
            min_size=1,
            max_size=5,
            unique=True,
        )
    )
    key_fields = draw(st.lists(st.sampled_from(keys), unique=True, max_size=len(keys)))
    schema = [
        Field(name=n, dtype=draw(dtypes), description=draw(texts), tags=draw(tags))
        for n in draw(st.permutations(feature_names + key_fields))
    ]
    return FeatureView(
        name=draw(names),
        entities=ents,
        ttl=draw(ttls),
        schema=schema,
        source=source,
        online=draw(st.booleans()),
        tags=draw(tags),
        owner=draw(texts),
        description=draw(texts),
    )


@st.composite
def services(draw: st.DrawFn) -> FeatureService:
    chosen = draw(st.lists(views(), min_size=1, max_size=3, unique_by=lambda v: v.name))
    features: list[Any] = []
    for view in chosen:
        subset = draw(st.lists(st.sampled_from(view.feature_names), min_size=1, unique=True))
        features.append(view if draw(st.booleans()) else view[subset])
    return FeatureService(
        name=draw(names),
        features=features,
        description=draw(texts),
        tags=draw(tags),
        owner=draw(texts),
    )


definitions = entities() | views() | services()


def through_json(obj: Any) -> Any:
    spec = orjson.loads(orjson.dumps(obj.to_spec()))
    return from_spec(kind_of(obj), spec)


def comparable(obj: Any) -> Any:
    """What a spec preserves: a view keeps only its entities' names and join keys."""
    if isinstance(obj, FeatureView):
        return replace(obj, entities=[Entity(e.name, e.join_keys) for e in obj.entities])
    return obj


@settings(max_examples=150)
@given(definitions)
def test_spec_round_trip_returns_the_original(obj: Any) -> None:
    back = through_json(obj)
    assert back.to_spec() == obj.to_spec()
    assert back == comparable(obj)
    assert definition_hash(back.to_spec()) == definition_hash(obj.to_spec())
    if isinstance(obj, FeatureView):
        assert back.ttl == obj.ttl
        assert data_version(back) == data_version(obj)


@settings(max_examples=40)
@given(st.lists(definitions, min_size=1, max_size=4))
def test_registry_stores_and_returns_every_definition(objs: list[Any]) -> None:
    unique = {(kind_of(o), o.name): o for o in objs}
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(RepoConfig(project="p", repo_path=Path(tmp)))
        registry.commit([ObjectChange(k, n, "add", None, new=o) for (k, n), o in unique.items()])
        snap = registry.snapshot()
        stored = {
            **{("entity", n): o for n, o in snap.entities.items()},
            **{("feature_view", n): o for n, o in snap.feature_views.items()},
            **{("feature_service", n): o for n, o in snap.feature_services.items()},
        }
        assert {k: o.to_spec() for k, o in stored.items()} == {
            k: o.to_spec() for k, o in unique.items()
        }
        registry.close()


def test_data_spec_ignores_metadata_but_not_values() -> None:
    user = Entity(name="user", join_keys=["user_id"])
    base = FeatureView(
        name="v",
        entities=[user],
        ttl=timedelta(days=1),
        schema=[Field(name="a", dtype=Int64)],
        source=FileSource(path="s.parquet"),
    )
    same = replace(base, description="d", tags={"x": "y"}, owner="o", online=False)
    assert data_version(same) == data_version(base)
    for changed in [
        replace(base, ttl=timedelta(days=2)),
        replace(base, schema=[Field(name="a", dtype=Float64)]),
        replace(base, source=FileSource(path="t.parquet")),
        replace(base, entities=[Entity(name="user", join_keys=["uid"])]),
    ]:
        assert data_version(changed) != data_version(base)
