"""The RL scheduling policy: tabular Monte-Carlo control (Q-learning of a stopping rule) on forecast features.

Each hour, for each waiting job, the agent sees a state built only from forecasts made now:
- ratio = (greenest forecast Σ intensity for starting now, over the allowed zones)
          / (greenest forecast Σ for any later start in the window, over the allowed zones), bucketed;
- slack = hours left before the job's latest start, bucketed (slack 0: it must start).
Actions: start now (in the zone with the greenest forecast for the job's window) or wait.
Reward (at start): the carbon saved against running at submit in the home zone, as a fraction of that
run-now carbon, counted on the real trace of the training period. Waiting earns nothing by itself.

Training: Monte-Carlo control with exploring starts over training jobs: every hour of every job's window is
a visit where both actions are evaluated; Q(s, start) is the mean reward of starting there, Q(s, wait) the
mean return of following the current policy from the next hour; the policy is improved greedily and the
evaluation repeated until it no longer changes. Training sees one period (or zones) of the trace; the policy
is evaluated on another.

`python -m oracle.schedule.rl` regenerates the committed table data/rl_policy.json (deterministic).
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from oracle.errors import UsageError
from oracle.schedule.jobs import Job, generate_jobs
from oracle.schedule.context import Context, JobView
from oracle.schedule.trace import DATA_DIR, CarbonTrace, load_trace

RATIO_EDGES = (0.9, 0.95, 0.98, 1.0, 1.02, 1.05, 1.1, 1.2)
SLACK_EDGES = (1, 2, 3, 4, 6, 9, 13, 19, 25)
POLICY_FILE = DATA_DIR / "rl_policy.json"

# The committed policy: trained on these zones over 2020 with this job generator; US-NE is held out.
TRAIN_ZONES = ("US-CAL", "US-NW")
TRAIN_SEED = 1
TRAIN_JOBS = {"every_h": 2.0, "duration_h": (1, 4), "slack_h": (4, 24), "power_kw": (0.5, 5.0)}


@dataclass(frozen=True)
class QTable:
    ratio_edges: tuple[float, ...]
    slack_edges: tuple[int, ...]
    q_start: np.ndarray  # (ratio buckets, slack buckets)
    q_wait: np.ndarray
    visits: np.ndarray
    meta: dict[str, object]

    def start_now(self, r: int, s: int) -> bool:
        if self.visits[r, s] == 0:  # never seen in training: start when now looks no worse than later
            return r <= self.ratio_edges.index(1.0)
        return bool(self.q_start[r, s] >= self.q_wait[r, s])

    def to_json(self) -> dict[str, object]:
        return {
            "ratio_edges": list(self.ratio_edges),
            "slack_edges": list(self.slack_edges),
            "q_start": np.round(self.q_start, 6).tolist(),
            "q_wait": np.round(self.q_wait, 6).tolist(),
            "visits": self.visits.astype(int).tolist(),
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> QTable:
        return cls(tuple(data["ratio_edges"]), tuple(data["slack_edges"]),  # type: ignore[arg-type]
                   np.array(data["q_start"], dtype=float), np.array(data["q_wait"], dtype=float),
                   np.array(data["visits"], dtype=float), dict(data["meta"]))  # type: ignore[arg-type]


def load_policy(path: str | Path = POLICY_FILE) -> QTable:
    try:
        return QTable.from_json(json.loads(Path(path).read_text()))
    except FileNotFoundError:
        raise UsageError(f"policy file not found: {path}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"not a policy table: {path}: {exc}") from None


def observe(t: int, view: JobView, ctx: Context) -> tuple[int, int, int]:
    """(ratio bucket, slack bucket, greenest zone to start now in) from the forecasts made at hour t."""
    best_now, best_zone, best_later = math.inf, view.zones[0], math.inf
    for z in view.zones:
        sums = ctx.forecast_sums(t, view, z)
        now = float(sums[0])
        if now < best_now:
            best_now, best_zone = now, z
        if len(sums) > 1:
            later = float(np.fmin.reduce(sums[1:]))  # fmin skips NaN (forecast gaps)
            if later < best_later:
                best_later = later
    slack = view.latest - t
    ratio = best_now / best_later if math.isfinite(best_later) and best_later > 0 else 1.0
    return bisect.bisect_right(RATIO_EDGES, ratio), bisect.bisect_right(SLACK_EDGES, slack), best_zone


class RLPolicy:
    name = "rl"

    def __init__(self, table: QTable) -> None:
        self.table = table

    def on_submit(self, t: int, view: JobView, ctx: Context, free: np.ndarray) -> None:
        return None

    def decide(self, t: int, view: JobView, ctx: Context) -> int | None:
        r, s, zone = observe(t, view, ctx)
        if t >= view.latest or self.table.start_now(r, s):
            return zone
        return None


def train(trace: CarbonTrace, jobs: Sequence[Job], max_iter: int = 50,
          meta: dict[str, object] | None = None) -> QTable:
    """Monte-Carlo control with exploring starts (see module docstring). Deterministic."""
    ctx = Context(trace, jobs)
    shape = (len(RATIO_EDGES) + 1, len(SLACK_EDGES) + 1)
    episodes: list[list[tuple[int, int, float]]] = []
    for v in ctx.views:
        base = ctx.actual_sum(v.zones[0], v.earliest, v.duration)
        if not base > 0:
            continue
        steps = []
        for t in range(v.earliest, v.latest + 1):
            r, s, z = observe(t, v, ctx)
            steps.append((r, s, (base - ctx.actual_sum(z, t, v.duration)) / base))
        episodes.append(steps)
    if not episodes:
        raise UsageError("no training jobs")
    visits = np.zeros(shape)
    q_start = np.zeros(shape)
    for steps in episodes:
        for r, s, reward in steps:
            visits[r, s] += 1
            q_start[r, s] += reward
    q_start = np.divide(q_start, visits, out=np.zeros(shape), where=visits > 0)
    policy = q_start >= -np.inf  # start everywhere at first (run-now-like)
    q_wait = np.full(shape, -np.inf)
    for _ in range(max_iter):
        wait_sum, wait_n = np.zeros(shape), np.zeros(shape)
        for steps in episodes:
            ret = steps[-1][2]  # the last hour must start
            for r, s, reward in reversed(steps[:-1]):
                wait_sum[r, s] += ret  # return of waiting = return from the next hour under the policy
                wait_n[r, s] += 1
                ret = reward if policy[r, s] else ret
        q_wait = np.divide(wait_sum, wait_n, out=np.full(shape, -np.inf), where=wait_n > 0)
        new_policy = q_start >= q_wait
        if np.array_equal(new_policy, policy):
            break
        policy = new_policy
    return QTable(RATIO_EDGES, SLACK_EDGES, q_start, q_wait, visits, meta or {})


def train_committed(trace: CarbonTrace | None = None) -> QTable:
    """Reproduce data/rl_policy.json: trained on TRAIN_ZONES (2020), US-NE held out."""
    full = trace or load_trace()
    sub = full.select(TRAIN_ZONES)
    jobs = generate_jobs(sub, TRAIN_ZONES, seed=TRAIN_SEED, multi_zone=True, **TRAIN_JOBS)  # type: ignore[arg-type]
    meta = {
        "trained_on": {"zones": list(TRAIN_ZONES), "from": sub.start.isoformat(),
                       "hours": sub.hours, "jobs": len(jobs), "generator": {**TRAIN_JOBS, "seed": TRAIN_SEED}},
        "held_out": "US-NE",
        "trace": "oracle/schedule/data/carbon_traces_2020.csv",
        "made_by": "python -m oracle.schedule.rl",
    }
    return train(sub, jobs, meta=meta)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the committed RL scheduling policy table.")
    parser.add_argument("--out", type=Path, default=POLICY_FILE)
    args = parser.parse_args(argv)
    table = train_committed()
    args.out.write_text(json.dumps(table.to_json(), indent=1) + "\n")
    print(f"wrote {args.out} ({int(table.visits.sum())} visits, at {datetime.now(timezone.utc).isoformat()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
