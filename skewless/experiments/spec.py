"""An experiment as declared: which model versions compete for the traffic of a served model,
with what weights, which arms only shadow, how traffic is allocated and what is watched.

``exp.yaml`` (read by :func:`load_experiment`)::

    name: churn-v4
    model: churn                     # the served model the experiment splits
    arms:
      - {name: control, model: churn@production, weight: 0.8}
      - {name: challenger, model: churn/4, weight: 0.2}
      - {name: next, model: churn/5, shadow: true}    # scored and logged, never answered
    policy: split                    # split | thompson | epsilon_greedy | ucb1
    analysis: sequential             # sequential (peeking allowed) | fixed
    alpha: 0.05
    salt: churn-v4                   # default: the name; a new salt reshuffles every key
    challenger_timeout_ms: 200       # the champion answers when a challenger is slower
    guard: {max_error_rate: 0.01, max_p99_ms: 50, max_prediction_drift: 0.1}
    canary: {steps: ["10% for 5m", "50% for 5m", "100%"]}

The first non-shadow arm is the champion (control). See docs/experiments.md, "Experiment
files".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from skewless.errors import ExperimentInputError

__all__ = [
    "POLICIES",
    "Arm",
    "CanaryStep",
    "ExperimentSpec",
    "Guard",
    "load_experiment",
    "parse_canary_step",
]

POLICIES = ("split", "thompson", "epsilon_greedy", "ucb1")
WEIGHT_TOLERANCE = 1e-6
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
_STEP = re.compile(
    r"^\s*(?P<share>\d+(?:\.\d+)?)\s*%\s*(?:for\s+(?P<n>\d+)\s*(?P<unit>s|m|h|d))?\s*$"
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Arm(_Strict):
    """One arm: a name, the model version it answers with (``NAME/VERSION`` or
    ``NAME@ALIAS``), its traffic weight, and whether it only shadows."""

    name: str
    model: str
    weight: float = 0.0
    shadow: bool = False

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(
                f"arm name {value!r} must start with a letter or digit and hold only letters, "
                "digits, '_', '.' and '-'"
            )
        return value

    @field_validator("weight")
    @classmethod
    def _check_weight(cls, value: float) -> float:
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"weight {value!r} must be a number of at least 0")
        return value


class Guard(_Strict):
    """What a canary step watches in the challenger's logged answers; None: not watched."""

    max_error_rate: float | None = 0.01
    max_p99_ms: float | None = None
    max_prediction_drift: float | None = None
    min_requests: int = 100


class CanaryStep(_Strict):
    """One step of a canary rollout: the challenger's share of traffic, held for ``hold``
    (None: the last step, held until the experiment stops)."""

    share: float
    hold: timedelta | None = None


class ExperimentSpec(_Strict):
    """A declared experiment (see the module docstring for the file form)."""

    name: str
    model: str
    arms: tuple[Arm, ...]
    policy: Literal["split", "thompson", "epsilon_greedy", "ucb1"] = "split"
    analysis: Literal["sequential", "fixed"] = "sequential"
    alpha: float = 0.05
    salt: str | None = None
    challenger_timeout_ms: float = Field(default=200.0, gt=0)
    guard: Guard = Guard()
    canary: tuple[CanaryStep, ...] | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(
                f"experiment name {value!r} must start with a letter or digit and hold only "
                "letters, digits, '_', '.' and '-'"
            )
        return value

    @field_validator("canary", mode="before")
    @classmethod
    def _parse_canary(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            value = value.get("steps")
        if value is None:
            return None
        return tuple(parse_canary_step(s) if isinstance(s, str) else s for s in value)

    @model_validator(mode="after")
    def _check_arms(self) -> ExperimentSpec:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique, got {names}")
        live = [a for a in self.arms if not a.shadow]
        if not live:
            raise ValueError("an experiment needs at least one arm that is not a shadow")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha {self.alpha!r} must be between 0 and 1")
        if self.policy == "split" and self.canary is None:
            total = sum(a.weight for a in live)
            if abs(total - 1.0) > WEIGHT_TOLERANCE:
                shown = ", ".join(f"{a.name}={a.weight:g}" for a in live)
                raise ValueError(
                    f"the weights of the arms that answer must sum to 1, got {total:g} "
                    f"({shown}): give each arm its share, e.g. 0.8 and 0.2"
                )
        if self.canary is not None:
            if len(live) != 2:
                raise ValueError(
                    f"a canary rollout moves traffic from a champion to one challenger, got "
                    f"{len(live)} arms that answer: declare exactly two (shadows aside)"
                )
            last = self.canary[-1]
            if last.hold is not None or any(s.hold is None for s in self.canary[:-1]):
                raise ValueError(
                    "every canary step but the last needs a hold ('10% for 5m'); the last "
                    "has none ('100%')"
                )
        return self

    @property
    def champion(self) -> Arm:
        """The first arm that answers: the control."""
        return next(a for a in self.arms if not a.shadow)

    @property
    def live_arms(self) -> tuple[Arm, ...]:
        """The arms that answer requests, champion first."""
        return tuple(a for a in self.arms if not a.shadow)

    @property
    def shadow_arms(self) -> tuple[Arm, ...]:
        return tuple(a for a in self.arms if a.shadow)

    @property
    def assignment_salt(self) -> str:
        return self.salt if self.salt is not None else self.name

    def weights(self) -> dict[str, float]:
        """Arm name -> weight of the arms that answer."""
        return {a.name: a.weight for a in self.live_arms}

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if self.canary is not None:
            data["canary"] = {"steps": [_step_text(s) for s in self.canary]}
        return data


def parse_canary_step(text: str) -> CanaryStep:
    """``"10% for 5m"`` -> share 0.1 held 5 minutes; ``"100%"`` -> the last step.

    >>> parse_canary_step("10% for 5m")
    CanaryStep(share=0.1, hold=datetime.timedelta(seconds=300))

    Raises:
        ExperimentInputError: not of that form, or a share outside (0, 100].
    """
    match = _STEP.match(text)
    share = float(match["share"]) / 100 if match else math.nan
    if match is None or not 0.0 < share <= 1.0:
        raise ExperimentInputError(
            f"canary step {text!r} is not 'N% for DURATION' (e.g. '10% for 5m') or a final "
            "'100%'; N is a share of traffic in (0, 100]"
        )
    hold = None
    if match["n"] is not None:
        hold = timedelta(seconds=int(match["n"]) * _UNITS[match["unit"]])
    return CanaryStep(share=share, hold=hold)


def _step_text(step: CanaryStep) -> str:
    share = f"{step.share * 100:g}%"
    if step.hold is None:
        return share
    return f"{share} for {int(step.hold.total_seconds())}s"


def load_experiment(source: str | Path | Mapping[str, Any]) -> ExperimentSpec:
    """An experiment from a YAML file (or a mapping of the same shape).

    Raises:
        ExperimentInputError: the file is missing, not YAML, or declares an invalid
            experiment (the first problem, on one line).
    """
    if isinstance(source, Mapping):
        data: Any = dict(source)
        where = "the experiment"
    else:
        path = Path(source)
        where = str(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ExperimentInputError(
                f"experiment file {where!r} does not exist: pass the path of a YAML file"
            ) from None
        except yaml.YAMLError as exc:
            message = f"{where} is not valid YAML: {exc}".replace("\n", " ")
            raise ExperimentInputError(message) from None
    if not isinstance(data, Mapping):
        raise ExperimentInputError(f"{where} must hold a mapping (name:, model:, arms:, ...)")
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "experiment"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ExperimentInputError(f"{where}: {field}: {message}") from None
