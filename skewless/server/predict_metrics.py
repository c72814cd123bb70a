"""Prometheus text of the prediction path: batches, where the time went, cache, log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from skewless.serving.stats import Histogram, ServingStats

if TYPE_CHECKING:
    from skewless.serving.routing import Router

__all__ = ["render_experiment", "render_serving"]


def _histogram(lines: list[str], name: str, help_text: str, h: Histogram) -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    for le, n in h.cumulative():
        lines.append(f'{name}_bucket{{le="{le}"}} {n}')
    lines += [f"{name}_sum {h.sum!r}", f"{name}_count {h.total}"]


def _value(lines: list[str], name: str, help_text: str, value: float, kind: str) -> None:
    text = str(int(value)) if float(value).is_integer() else repr(float(value))
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {text}"]


def render_serving(
    stats: ServingStats, model: Any, cache: Any = None, sink: Any = None, swaps: int = 0
) -> str:
    """The serving metrics (per worker process)."""
    lines: list[str] = []
    with stats.lock:
        _histogram(
            lines,
            "skewless_predict_batch_requests",
            "Requests scored together in one batch.",
            stats.batch_requests,
        )
        _histogram(
            lines,
            "skewless_predict_batch_entities",
            "Entities given to the model in one predict call.",
            stats.batch_entities,
        )
        _histogram(
            lines,
            "skewless_predict_feature_fetch_seconds",
            "Time of one batch's online feature read.",
            stats.fetch_seconds,
        )
        _histogram(
            lines,
            "skewless_predict_model_seconds",
            "Time of one batch's model call (with cache lookups).",
            stats.model_seconds,
        )
        _value(
            lines,
            "skewless_predictions_total",
            "Entities answered.",
            stats.predictions,
            "counter",
        )
        _value(
            lines,
            "skewless_predict_missing_entities_total",
            "Entities whose features were NOT_FOUND or OUTSIDE_MAX_AGE.",
            stats.missing_entities,
            "counter",
        )
        _value(
            lines,
            "skewless_predict_failed_requests_total",
            "Requests that failed while being scored.",
            stats.failed_requests,
            "counter",
        )
        _value(
            lines,
            "skewless_predict_model_errors_total",
            "Requests failed because the model raised.",
            stats.model_errors,
            "counter",
        )
    _value(lines, "skewless_model_version", "The model version serving.", model.version, "gauge")
    _value(
        lines,
        "skewless_model_swaps_total",
        "Times a promotion of the served alias was picked up.",
        swaps,
        "counter",
    )
    if cache is not None:
        hits, misses = cache.hits, cache.misses
        _value(lines, "skewless_prediction_cache_hits_total", "Cache hits.", hits, "counter")
        _value(lines, "skewless_prediction_cache_misses_total", "Cache misses.", misses, "counter")
        rate = hits / (hits + misses) if hits + misses else 0.0
        _value(lines, "skewless_prediction_cache_hit_rate", "Hits / lookups.", rate, "gauge")
    if sink is not None:
        for attr, help_text in (
            ("written_rows", "Prediction log rows written to Parquet."),
            ("dropped", "Prediction log rows dropped (queue full)."),
        ):
            if hasattr(sink, attr):
                _value(
                    lines,
                    f"skewless_prediction_log_{attr}_total",
                    help_text,
                    float(getattr(sink, attr)),
                    "counter",
                )
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(
    lines: list[str],
    name: str,
    help_text: str,
    kind: str,
    samples: Mapping[tuple[str, ...], float],
    labels: tuple[str, ...],
) -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for values, value in sorted(samples.items()):
        text = ",".join(f'{k}="{_label(v)}"' for k, v in zip(labels, values, strict=True))
        number = str(int(value)) if float(value).is_integer() else repr(float(value))
        lines.append(f"{name}{{{text}}} {number}")


def render_experiment(router: Router | None, unmatched_feedback: int) -> str:
    """The experiment's metrics (per worker process): weights, bandit allocation, answers,
    conversions, fallbacks and dropped shadow scorings per arm, and unmatched feedback."""
    lines: list[str] = []
    _value(
        lines,
        "skewless_feedback_unmatched_total",
        "Feedback items for requests this process did not answer (recorded, joined later).",
        unmatched_feedback,
        "counter",
    )
    if router is None:
        return "\n".join(lines) + "\n"
    name = router.name
    counts = router.counters.snapshot()
    arms = router.live_arms
    _family(
        lines,
        "skewless_experiment_running",
        "1 while the experiment routes requests, 0 once it stopped.",
        "gauge",
        {(name,): 1.0 if router.running else 0.0},
        ("experiment",),
    )
    weights = router.record.weights if router.running else {}
    _family(
        lines,
        "skewless_experiment_arm_weight",
        "The weight of each answering arm in force.",
        "gauge",
        {(name, arm): weights[arm] for arm in arms if arm in weights},
        ("experiment", "arm"),
    )
    if router.bandit is not None:
        _family(
            lines,
            "skewless_experiment_allocation",
            "The share of requests the bandit policy gives each arm now.",
            "gauge",
            {(name, arm): share for arm, share in router.bandit.allocation().items()},
            ("experiment", "arm"),
        )
    _family(
        lines,
        "skewless_experiment_requests_total",
        "Answers per arm and how the arm was chosen (a request split between arms counts "
        "once for each).",
        "counter",
        counts["requests"],
        ("experiment", "arm", "assignment"),
    )
    _family(
        lines,
        "skewless_experiment_conversions_total",
        "Feedback that was a reward, on answers the allocation routed (sticky or bandit).",
        "counter",
        {(name, arm): counts["conversions"].get((name, arm), 0) for arm in arms},
        ("experiment", "arm"),
    )
    _family(
        lines,
        "skewless_experiment_fallbacks_total",
        "Answers the champion gave for an arm that failed or timed out.",
        "counter",
        {
            (name, arm): counts["fallbacks"].get((name, arm), 0)
            for arm in arms
            if arm != router.champion_name
        },
        ("experiment", "arm"),
    )
    _family(
        lines,
        "skewless_experiment_shadow_dropped_total",
        "Requests a shadow arm did not score because its queue was full.",
        "counter",
        {(name, arm): shadow.dropped for arm, shadow in router.shadows.items()},
        ("experiment", "arm"),
    )
    return "\n".join(lines) + "\n"
