"""Prometheus text of the prediction path: batches, where the time went, cache, log."""

from __future__ import annotations

from typing import Any

from skewless.serving.stats import Histogram, ServingStats

__all__ = ["render_serving"]


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
