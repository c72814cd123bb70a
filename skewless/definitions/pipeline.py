"""Pipelines as code: named steps of plain functions, bound by parameter name.

A :class:`Step` wraps a module-level function. Its parameters are bound Hamilton-style when
the :class:`Pipeline` is built: a parameter named like an earlier step receives that step's
output, one named like a pipeline param receives the param, ``store`` and ``run`` receive
what the runner provides (the repository's store, the run's identity), and a parameter with a
default keeps it. ``Step(inputs={"x": "split.train"})`` binds a parameter to another name, or
to an attribute (or key) of an earlier output.

A pipeline is stored like every definition: its spec holds each function's reference
(``module:qualname``) and a hash of its source text, never the code itself, so editing a
function changes the definition's hash and ``skewless plan`` shows it.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from skewless.definitions._names import check_identifier, check_tags
from skewless.errors import DefinitionError

__all__ = [
    "CHECK_KEY",
    "PRIVATE_MODULE_PREFIX",
    "RESOURCES",
    "Binding",
    "Pipeline",
    "Step",
    "code_hash",
    "function_reference",
]

RESOURCES = ("store", "run")
"""Parameter names the runner fills itself: the repository's store and the run's identity."""

PRIVATE_MODULE_PREFIX = "_skewless_repo__"
"""Module names of repository files imported by path (their name is taken by another module)."""

CHECK_KEY = ":check"
"""The key of the check function's bindings in :attr:`Pipeline.bindings` (never a step name)."""

Source = Literal["step", "param", "resource", "default"]


def function_reference(fn: Callable[..., Any], what: str) -> str:
    """``module:qualname`` of a module-level function, by which the runner imports it.

    Raises:
        DefinitionError: ``fn`` is a lambda, a nested function or defined in ``__main__``.
    """
    if not inspect.isfunction(fn):
        raise DefinitionError(f"{what}: {fn!r} is not a function: pass a function defined with def")
    qualname, module = fn.__qualname__, fn.__module__ or ""
    if "<" in qualname or module in ("", "__main__"):
        raise DefinitionError(
            f"{what}: {fn.__name__!r} is not a module-level function of an importable module: "
            "define it with def at the top of a file of the repository"
        )
    return f"{module}:{qualname}"


def code_hash(fn: Callable[..., Any], what: str) -> str:
    """sha256 of the function's source text (dedented): it changes when the code does.

    Raises:
        DefinitionError: the source cannot be read.
    """
    try:
        text = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        raise DefinitionError(
            f"{what}: the source of {getattr(fn, '__name__', fn)!r} cannot be read: define it "
            "in a .py file"
        ) from None
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Binding:
    """Where one parameter of a step's function gets its value.

    Attributes:
        parameter: the function's parameter.
        source: ``step`` (an earlier step's output), ``param``, ``resource`` or ``default``.
        name: the step, param or resource (empty for a default).
        attr: for a step output, the attribute or key taken from it (empty: the whole output).
    """

    parameter: str
    source: Source
    name: str = ""
    attr: str = ""

    def to_spec(self) -> dict[str, str]:
        return {"parameter": self.parameter, "source": self.source, "name": self.name,
                "attr": self.attr}  # fmt: skip

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Binding:
        return cls(spec["parameter"], spec["source"], spec.get("name", ""), spec.get("attr", ""))


@dataclass(frozen=True, init=False)
class Step:
    """One step: a function, how its parameters are bound, and its retry and cache policy.

    Args:
        name: the step's name, which is also the name of its output.
        fn: a module-level function.
        inputs: parameter -> ``step``, ``step.attr``, a param or a resource, overriding the
            binding by name.
        retries: how many more attempts after a failure.
        backoff_s: the wait before the first retry; it doubles with each further retry.
        cache: skip the step when an earlier run ran the same code on the same inputs.

    Example:
        >>> from skewless.definitions._names import check_identifier
        >>> Step("clean", check_identifier, retries=2).reference
        'skewless.definitions._names:check_identifier'
    """

    name: str
    fn: Callable[..., Any] | None = field(compare=False, repr=False)
    reference: str = ""
    code_hash: str = ""
    parameters: tuple[tuple[str, bool], ...] = ()
    inputs: Mapping[str, str] = field(default_factory=dict)
    retries: int = 0
    backoff_s: float = 1.0
    cache: bool = True
    returns: str = ""

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        inputs: Mapping[str, str] | None = None,
        retries: int = 0,
        backoff_s: float = 1.0,
        cache: bool = True,
    ) -> None:
        check_identifier(name, "step name")
        what = f"step {name!r}"
        reference = function_reference(fn, what)
        if not isinstance(retries, int) or retries < 0:
            raise DefinitionError(f"{what}: retries must be a whole number >= 0, got {retries!r}")
        if not isinstance(backoff_s, int | float) or not math.isfinite(backoff_s) or backoff_s < 0:
            raise DefinitionError(f"{what}: backoff_s must be seconds >= 0, got {backoff_s!r}")
        signature = inspect.signature(fn)
        parameters = tuple(
            (p.name, p.default is not inspect.Parameter.empty)
            for p in signature.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        )
        given = dict(inputs or {})
        unknown = sorted(set(given) - {p for p, _ in parameters})
        if unknown:
            raise DefinitionError(
                f"{what}: inputs name {', '.join(unknown)}, which {reference} does not take "
                f"(its parameters: {', '.join(p for p, _ in parameters) or 'none'})"
            )
        returns = signature.return_annotation
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "reference", reference)
        object.__setattr__(self, "code_hash", code_hash(fn, what))
        object.__setattr__(self, "parameters", parameters)
        object.__setattr__(self, "inputs", {k: str(v) for k, v in sorted(given.items())})
        object.__setattr__(self, "retries", retries)
        object.__setattr__(self, "backoff_s", float(backoff_s))
        object.__setattr__(self, "cache", bool(cache))
        empty = returns is inspect.Signature.empty
        object.__setattr__(self, "returns", "" if empty else _annotation_text(returns))

    @classmethod
    def restored(cls, spec: Mapping[str, Any]) -> Step:
        """The step as the registry stored it: no function (the runner imports it)."""
        step = object.__new__(cls)
        values = {
            "name": spec["name"],
            "fn": None,
            "reference": spec["function"],
            "code_hash": spec["code_hash"],
            "parameters": tuple((p, bool(d)) for p, d in spec.get("parameters", [])),
            "inputs": dict(spec.get("inputs") or {}),
            "retries": int(spec.get("retries", 0)),
            "backoff_s": float(spec.get("backoff_s", 1.0)),
            "cache": bool(spec.get("cache", True)),
            "returns": spec.get("returns", ""),
        }
        for key, value in values.items():
            object.__setattr__(step, key, value)
        return step


def _annotation_text(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__qualname__", None) or str(annotation)


def _bind(
    step: Step, what: str, earlier: Sequence[str], params: Mapping[str, Any]
) -> tuple[Binding, ...]:
    bindings = []
    for parameter, has_default in step.parameters:
        target = step.inputs.get(parameter)
        if target is not None:
            head, _, attr = target.partition(".")
            if head in earlier:
                bindings.append(Binding(parameter, "step", head, attr))
            elif not attr and head in params:
                bindings.append(Binding(parameter, "param", head))
            elif not attr and head in RESOURCES:
                bindings.append(Binding(parameter, "resource", head))
            else:
                raise DefinitionError(
                    f"{what}: input {parameter}={target!r} names no earlier step, param or "
                    f"resource (earlier steps: {', '.join(earlier) or 'none'}; params: "
                    f"{', '.join(params) or 'none'})"
                )
        elif parameter in earlier:
            bindings.append(Binding(parameter, "step", parameter))
        elif parameter in params:
            bindings.append(Binding(parameter, "param", parameter))
        elif parameter in RESOURCES:
            bindings.append(Binding(parameter, "resource", parameter))
        elif has_default:
            bindings.append(Binding(parameter, "default"))
        else:
            raise DefinitionError(
                f"{what}: parameter {parameter!r} of {step.reference} is bound to nothing: name "
                f"an earlier step or a param {parameter!r}, give it a default, or map it with "
                f'Step(inputs={{"{parameter}": "step"}})'
            )
    return tuple(bindings)


def _json_params(params: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise DefinitionError(f"{what}: params must be a dict, got {type(params).__name__}")
    for key in params:
        check_identifier(key, f"{what}: param name")
    try:
        loaded: dict[str, Any] = orjson.loads(orjson.dumps(dict(params)))
    except TypeError as exc:
        raise DefinitionError(
            f"{what}: params must be JSON values (numbers, strings, lists, dicts): {exc}"
        ) from None
    return loaded


@dataclass(frozen=True, init=False)
class Pipeline:
    """A named list of steps run in order, with params a run may override.

    Args:
        name: the pipeline's name.
        steps: the steps, in the order they run; each may use the outputs of earlier ones.
        params: the params and their defaults (JSON values); ``--params k=v`` overrides them.
        check: a function run before any step, on params and resources only; it raises when
            the pipeline cannot run (a missing model or feature service).
        description, tags, owner: as for every definition.

    Example:
        >>> import textwrap
        >>> tidy = Pipeline("tidy", steps=[Step("dedent", textwrap.dedent, inputs={"text": "raw"})],
        ...     params={"raw": "  indented"})
        >>> tidy.bindings["dedent"]
        (Binding(parameter='text', source='param', name='raw', attr=''),)
    """

    name: str
    steps: tuple[Step, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    bindings: Mapping[str, tuple[Binding, ...]] = field(default_factory=dict)
    check: Step | None = None
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    owner: str = ""

    def __init__(
        self,
        name: str,
        *,
        steps: Sequence[Step],
        params: Mapping[str, Any] | None = None,
        check: Callable[..., Any] | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str = "",
    ) -> None:
        check_identifier(name, "pipeline name")
        what = f"pipeline {name!r}"
        chosen = _json_params(params, what)
        steps = tuple(steps or ())
        if not steps:
            raise DefinitionError(f"{what} has no steps: pass steps=[Step(...), ...]")
        bindings: dict[str, tuple[Binding, ...]] = {}
        for step in steps:
            if not isinstance(step, Step):
                raise DefinitionError(f"{what}: {step!r} is not a Step(name, fn)")
            if step.name in bindings:
                raise DefinitionError(f"{what}: two steps are named {step.name!r}: rename one")
            if step.name in chosen or step.name in RESOURCES:
                raise DefinitionError(
                    f"{what}: step {step.name!r} has the name of a param or of a resource "
                    f"({', '.join(RESOURCES)}): rename it"
                )
            bindings[step.name] = _bind(step, f"{what}: step {step.name!r}", list(bindings), chosen)
        checker = None
        if check is not None:
            checker = Step("check", check, cache=False)
            bindings[CHECK_KEY] = _bind(checker, f"{what}: check", [], chosen)
        self._set(name, steps, chosen, bindings, checker, description, tags, owner)

    def _set(
        self,
        name: str,
        steps: tuple[Step, ...],
        params: dict[str, Any],
        bindings: dict[str, tuple[Binding, ...]],
        check: Step | None,
        description: str,
        tags: Mapping[str, str] | None,
        owner: str,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "bindings", bindings)
        object.__setattr__(self, "check", check)
        object.__setattr__(self, "description", description or "")
        object.__setattr__(self, "tags", check_tags(tags, f"pipeline {name!r}"))
        object.__setattr__(self, "owner", owner or "")

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)

    def get_step(self, name: str) -> Step:
        """The step called ``name``.

        Raises:
            DefinitionError: there is none.
        """
        for step in self.steps:
            if step.name == name:
                return step
        raise DefinitionError(
            f"pipeline {self.name!r} has no step {name!r} (steps: {', '.join(self.step_names)})"
        )

    def to_spec(self) -> dict[str, Any]:
        steps = [self._step_spec(s) for s in self.steps]
        return {
            "name": self.name,
            "steps": steps,
            "params": self.params,
            "check": self._step_spec(self.check, CHECK_KEY) if self.check is not None else None,
            "description": self.description,
            "tags": dict(sorted(self.tags.items())),
            "owner": self.owner,
        }

    def _step_spec(self, step: Step, key: str | None = None) -> dict[str, Any]:
        return {
            "name": step.name,
            "function": step.reference,
            "code_hash": step.code_hash,
            "parameters": [[p, d] for p, d in step.parameters],
            "inputs": dict(step.inputs),
            "bindings": [b.to_spec() for b in self.bindings[key or step.name]],
            "retries": step.retries,
            "backoff_s": step.backoff_s,
            "cache": step.cache,
            "returns": step.returns,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Pipeline:
        pipeline = object.__new__(cls)
        steps = tuple(Step.restored(s) for s in spec["steps"])
        bindings = {
            s["name"]: tuple(Binding.from_spec(b) for b in s["bindings"]) for s in spec["steps"]
        }
        check = None
        if spec.get("check"):
            check = Step.restored(spec["check"])
            bindings[CHECK_KEY] = tuple(Binding.from_spec(b) for b in spec["check"]["bindings"])
        pipeline._set(
            spec["name"],
            steps,
            dict(spec.get("params") or {}),
            bindings,
            check,
            spec.get("description", ""),
            spec.get("tags") or {},
            spec.get("owner", ""),
        )
        return pipeline
