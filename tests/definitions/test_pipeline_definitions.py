"""Pipeline definitions: bindings by name, refusals in one line, and the spec round trip."""

from __future__ import annotations

import textwrap

import pytest

from skewless.definitions import Pipeline, Step, definition_hash, from_spec, kind_of
from skewless.definitions.pipeline import Binding
from skewless.errors import DefinitionError
from skewless.pipelines import retraining


def _train(X, y):  # type: ignore[no-untyped-def]
    return None


def test_parameters_bind_to_steps_params_resources_and_defaults() -> None:
    pipeline = retraining.retraining_pipeline(
        model="churn", feature_service="scoring", label_source="data/labels.parquet",
        label="churned", train=_train,
    )  # fmt: skip
    gate = {b.parameter: b for b in pipeline.bindings["gate"]}
    assert gate["store"] == Binding("store", "resource", "store")
    assert gate["register"] == Binding("register", "step", "register")
    assert gate["thresholds"] == Binding("thresholds", "param", "thresholds")
    assert pipeline.step_names == (
        "validate_data", "training_set", "train", "evaluate", "register", "gate", "rollout",
    )  # fmt: skip
    assert kind_of(pipeline) == "pipeline"


def test_inputs_map_a_parameter_to_an_attribute_of_an_earlier_output() -> None:
    indent = Step("indent", textwrap.indent, inputs={"text": "dedent", "prefix": "dedent.upper"})
    tidy = Pipeline(
        "tidy",
        steps=[Step("dedent", textwrap.dedent, inputs={"text": "raw"}), indent],
        params={"raw": "  x"},
    )
    assert tidy.bindings["indent"][:2] == (
        Binding("text", "step", "dedent"),
        Binding("prefix", "step", "dedent", "upper"),
    )


def test_the_spec_holds_references_and_code_hashes_and_round_trips() -> None:
    tidy = Pipeline("tidy", steps=[Step("dedent", textwrap.dedent, inputs={"text": "raw"},
                    retries=2, backoff_s=0.1)], params={"raw": "  x"})  # fmt: skip
    spec = tidy.to_spec()
    step = spec["steps"][0]
    assert step["function"] == "textwrap:dedent" and len(step["code_hash"]) == 64
    assert "def dedent" not in str(spec)
    back = from_spec("pipeline", spec)
    assert isinstance(back, Pipeline) and back.steps[0].fn is None
    assert back.to_spec() == spec and definition_hash(back.to_spec()) == definition_hash(spec)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Step("s", lambda x: x), "is not a module-level function"),
        (lambda: Step("s", textwrap.dedent, retries=-1), "retries must be a whole number"),
        (lambda: Step("s", textwrap.dedent, inputs={"nope": "x"}), "inputs name nope"),
        (lambda: Pipeline("p", steps=[]), "has no steps"),
        (lambda: Pipeline("p", steps=[Step("s", textwrap.dedent)]), "parameter 'text'"),
        (
            lambda: Pipeline("p", steps=[Step("s", textwrap.dedent, inputs={"text": "later"})]),
            "names no earlier step",
        ),
        (
            lambda: Pipeline(
                "p",
                steps=[Step("raw", textwrap.dedent, inputs={"text": "raw"})],
                params={"raw": "x"},
            ),
            "has the name of a param",
        ),
        (
            lambda: Pipeline(
                "p",
                steps=[Step("s", textwrap.dedent, inputs={"text": "t"})],
                params={"t": object()},
            ),
            "params must be JSON values",
        ),
        (
            lambda: retraining.retraining_pipeline(
                model="m",
                feature_service="f",
                label_source="l.parquet",
                label="y",
                train=_train,
                rollout="everywhere",
            ),
            "rollout='everywhere' is unknown",
        ),
    ],
)
def test_bad_pipelines_are_refused_in_one_line(build, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DefinitionError, match=message) as caught:
        build()
    assert "\n" not in str(caught.value)
