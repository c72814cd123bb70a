"""Experiment routing: the prediction server with an experiment next to the same server without.

The repository and model of ``bench/predict.py`` (USERS users, a 100-tree
``HistGradientBoostingClassifier`` promoted to ``production``). The variants, each a real
``skewless models serve churn@production`` process on a free loopback port, logging every
answer as in production (the log writer on), 1 entity per request sent by wrk:

- ``none``: no experiment (the floor: the same server, doing the same work, without routing);
- ``split``: ``--experiment`` with two arms, 50/50, both ``churn@production``: each row's
  sticky hash, the parts of a batch per arm, the answers reassembled and logged per arm, the
  counters; arms of one version share one model call, so this is the routing's own cost;
- ``split-2``: the same split with the challenger naming the version by number
  (``churn/V``): two services, so every batch makes two model calls, one per arm, as an
  experiment between two versions does (the second call is the second model's cost, not the
  routing's);
- ``shadow``: one answering arm and a shadow arm of the same version: every batch is scored a
  second time, after the answer, on the shadow's thread, and logged.

Every arm is the same version, so every variant must answer exactly what ``none`` answers:
the answers of a sample of users are checked equal before anything is timed. The variants run
one at a time (one experiment may split a model's traffic at a time), at 16 connections, in
two rounds (none, split, split-2, shadow, then again) so a drift of the machine shows.

Targets: routing (``split``) costs under 5% of ``none``'s requests/s; a shadow adds no p99
latency to the answer (on this 2-core machine the shadow's second scoring competes with the
answers for the same cores, so its cost shows as CPU per request; the table gives both).

Run: ``.venv/bin/python bench/experiments_routing.py`` (``--users 100000 --seconds 10``);
``--quick`` for a tiny run that checks the answers agree; ``--no-write`` not to touch
RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import predict as p
import yaml
from _results import conditions, replace_section
from serve import free_port, run_wrk

SECTION = "## Experiment routing (`bench/experiments_routing.py`)"
VARIANTS = ("none", "split", "split-2", "shadow")
TARGET_RPS_COST = 0.05
CONNECTIONS = 16


def experiment_file(work: Path, variant: str, version: int) -> Path | None:
    if variant == "none":
        return None
    if variant.startswith("split"):
        challenger = "churn@production" if variant == "split" else f"churn/{version}"
        arms = [
            {"name": "control", "model": "churn@production", "weight": 0.5},
            {"name": "challenger", "model": challenger, "weight": 0.5},
        ]
    else:
        arms = [
            {"name": "control", "model": "churn@production", "weight": 1.0},
            {"name": "next", "model": f"churn/{version}", "shadow": True},
        ]
    path = work / f"bench-{variant}.yaml"
    name = f"bench-{variant}-{time.time_ns()}"
    spec = {"name": name, "model": p.MODEL, "arms": arms}
    path.write_text(yaml.safe_dump(spec))
    return path


def start(repo: p.Repo, logs: Path, variant: str, experiment: Path | None) -> p.Server:
    port = free_port()
    skewless = Path(sys.executable).with_name("skewless")
    command = [
        str(skewless), "--repo", str(repo.root), "models", "serve", f"{p.MODEL}@production",
        "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    if experiment is not None:
        command += ["--experiment", str(experiment)]
    server = p._launch(f"skewless-{variant}", command, "/health", "/predict", port, {}, logs)
    problem = p.wait_ready(server)
    if problem is not None:
        p.stop(server)
        raise SystemExit(f"{variant}: {problem}")
    return server


def stop_experiment(repo: p.Repo, experiment: Path | None) -> None:
    if experiment is None:
        return
    from skewless.config import load_config
    from skewless.experiments.records import ExperimentStore
    from skewless.registry import Registry

    name = yaml.safe_load(experiment.read_text())["name"]
    store = ExperimentStore(Registry(load_config(repo.root)))
    if store.get(name).status == "running":
        store.stop(name, "benchmark over")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--train", type=int, default=20_000)
    parser.add_argument("--pool", type=int, default=2_000)
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--data", type=Path, default=p.DATA)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.users, args.days, args.train, args.pool, args.sample = 2_000, 2, 1_000, 100, 30
        args.seconds, args.no_write = 2, True
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    p.THREADS["OMP_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"
    began = time.monotonic()
    work = args.data / "experiments_routing"
    logs = work / "logs"
    repo = p.build_repo(work / "repo", args.data, args.users, args.days, args.train, args.pool)
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    p.progress(began, "repository built")
    sample = sorted(
        np.random.default_rng(5).choice(len(repo.pool), min(args.sample, len(repo.pool)), False)
    )
    rows: list[p.Row] = []
    reference = None
    rounds = 1 if args.quick else 2
    for _ in range(rounds):
        for variant in VARIANTS:
            experiment = experiment_file(work, variant, repo.version)
            server = start(repo, logs, variant, experiment)
            try:
                answers = p.answers_of(server, repo, sample)
                if reference is None:
                    reference = answers
                else:
                    p.check_answers("none", reference, server.name, answers)
                script = p.lua_for(server, repo, args.users)
                if not args.quick:
                    run_wrk(server.url, script, CONNECTIONS, 2, p.WRK_TIMEOUT_S)
                row = p.measure(server, script, CONNECTIONS, args.seconds)
                rows.append(row)
                p.progress(began, f"{variant}: {row.rps:,.0f} req/s, p99 {row.p99:.2f} ms")
            finally:
                p.stop(server)
                stop_experiment(repo, experiment)
    print(f"answers agree: {', '.join(VARIANTS)} ({len(sample)} users)")
    lines = report(rows)
    print("\n".join(lines))
    if not args.no_write:
        command = "`.venv/bin/python bench/experiments_routing.py`"
        body = [SECTION, "", f"Command: {command} ({conditions()}).", "", *lines, ""]
        replace_section(SECTION, body)


def report(rows: list[p.Row]) -> list[str]:
    by_variant: dict[str, list[p.Row]] = {}
    for row in rows:
        by_variant.setdefault(row.variant.removeprefix("skewless-"), []).append(row)
    lines = [
        f"{CONNECTIONS} connections, 1 entity per request, every answer logged; each variant "
        f"measured {len(by_variant['none'])} time(s), in turns.",
        "",
        "| variant | round | requests/s | vs none | p50 ms | p99 ms | server CPU us/req |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for variant, measured in by_variant.items():
        for i, row in enumerate(measured):
            none = by_variant["none"][i]
            cpu = f"{row.cpu_us:,.0f}" if row.cpu_us is not None else ""
            lines.append(
                f"| {variant} | {i + 1} | {row.rps:,.0f} | {row.rps / none.rps:.1%} | "
                f"{row.p50:.2f} | {row.p99:.2f} | {cpu} |"
            )
    mean = {v: sum(r.rps for r in rs) / len(rs) for v, rs in by_variant.items()}
    p99 = {v: sum(r.p99 for r in rs) / len(rs) for v, rs in by_variant.items()}
    cost = 1 - mean["split"] / mean["none"]
    lines += [
        "",
        f"Routing (split) costs {cost:.1%} of the requests/s (target under "
        f"{TARGET_RPS_COST:.0%}: {'met' if cost < TARGET_RPS_COST else 'not met'}); the shadow "
        f"moves the answers' p99 from {p99['none']:.2f} to {p99['shadow']:.2f} ms "
        f"({'no more' if p99['shadow'] <= p99['none'] * 1.05 else 'more'} than 5% above).",
    ]
    return lines


if __name__ == "__main__":
    main()
