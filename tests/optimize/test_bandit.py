"""The online learner on simulators built from the two measured profiles (H200 with NVML, CPU profiled here)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from oracle.errors import UsageError
from oracle.optimize.bandit import ProfileSimulator, ThompsonTuner, best_feasible, simulate
from oracle.optimize.profile import CPU_DIGITS_PROFILE, H200_PROFILE, load_profile


@pytest.mark.parametrize(("path", "slo"), [(H200_PROFILE, 0.25), (CPU_DIGITS_PROFILE, 2.0)])
def test_within_5_percent_using_a_quarter_of_the_grid(path: Path, slo: float) -> None:
    rows = load_profile(path)
    budget = len(rows) // 4
    needed = []
    for seed in range(9):
        run = simulate(rows, slo, trials=len(rows), seed=seed, noise_cv=0.05)
        needed.append(run.trials_to_within if run.trials_to_within is not None else 10**6)
        assert run.regret_j_per_item == sorted(run.regret_j_per_item)  # cumulative, non-negative steps
    assert statistics.median(needed) <= budget


def test_converges_and_recommends_only_measured_feasible_configs() -> None:
    rows = load_profile(H200_PROFILE)
    run = simulate(rows, 0.25, trials=12, seed=3, noise_cv=0.02)
    star = best_feasible(rows, 0.25)
    assert run.recommendation[-1] == star
    for t, rec in enumerate(run.recommendation):
        assert rec is None or rec in run.chosen[: t + 1]


def test_quality_floor_arms_are_never_tried() -> None:
    rows = load_profile(CPU_DIGITS_PROFILE)
    floor = sorted({r.quality for r in rows if r.quality is not None})[-1]
    tuner = ThompsonTuner(rows, latency_slo_ms=None, min_quality=floor, seed=0)
    sim = ProfileSimulator(rows, 0.05, seed=1)
    for _ in range(8):
        i = tuner.choose()
        assert rows[i].quality is not None and rows[i].quality >= floor
        tuner.update(i, *sim.run(i))


def test_thompson_strategy_runs_and_bad_inputs_fail() -> None:
    rows = load_profile(H200_PROFILE)
    run = simulate(rows, 0.25, trials=6, seed=0, strategy="thompson")
    assert len(run.chosen) == 6
    with pytest.raises(UsageError):
        ThompsonTuner([], 0.25)
    with pytest.raises(UsageError):
        ThompsonTuner(rows, 0.25, strategy="greedy")
    with pytest.raises(UsageError):
        ThompsonTuner(rows, 0.25, min_quality=0.9)  # the H200 profile's quality is unknown


def test_optimize_online_prints_the_trials_to_the_best_feasible(capsys: pytest.CaptureFixture[str]) -> None:
    from oracle.app.cli import main

    rows = load_profile(H200_PROFILE)
    assert main(["optimize", "--profile", str(H200_PROFILE), "--latency-slo-ms", "0.25", "--online",
                 "--trials", "12", "--seed", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["online"]
    star = rows[best_feasible(rows, 0.25)].label()
    run = simulate(rows, 0.25, trials=12, seed=3)
    assert out["best_feasible"] == star and [t["trial"] for t in out["trials"]] == list(range(1, 13))
    assert [t["ran"] for t in out["trials"]] == [rows[i].label() for i in run.chosen]
    assert out["trials"][-1]["recommendation"] == star and out["trials_to_within_5pct"] == run.trials_to_within
    assert main(["optimize", "--profile", str(H200_PROFILE), "--latency-slo-ms", "0.25", "--online"]) == 0
    text = capsys.readouterr().out
    assert "Online learner (12 trials on a grid of 12" in text and "within 5 % of the best feasible after" in text
