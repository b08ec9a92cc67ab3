"""Scheduler figures on held-out real carbon traces: RL vs run-now, greedy lowest-forecast window, optimum.

Run: .venv/bin/python bench/scheduler.py   (about a minute on 2 cores)

Scenarios (trace: oracle/schedule/data/carbon_traces_2020.csv, real EIA-930 2020 data):
1. held-out zone: the committed policy (data/rl_policy.json, trained on US-CAL + US-NW) on US-NE, 2020,
   then each other zone held out in turn (policy trained here on the remaining two);
2. held-out period: a policy trained here on Jan-Jun 2020 (all zones, multi-zone jobs), evaluated on
   Jul-Dec 2020 with multi-zone jobs (time and zone shifting).
Each with unlimited capacity and with a capacity of 2 jobs per zone. Figures: carbon (kg CO2e), saving
against run-now, share of the optimum's saving, deadline misses. Goal: RL >= 90 % of the optimum's saving.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.schedule.jobs import generate_jobs  # noqa: E402
from oracle.schedule.rl import RLPolicy, load_policy, train  # noqa: E402
from oracle.schedule.scheduler import Context, GreedyForecast, RunNow, optimum, simulate  # noqa: E402
from oracle.schedule.trace import load_trace  # noqa: E402


def report(name: str, trace, jobs, table, capacity) -> dict[str, float]:  # type: ignore[no-untyped-def]
    ctx = Context(trace, jobs)
    res = {p.name: simulate(trace, jobs, p, capacity, ctx) for p in (RunNow(), GreedyForecast(), RLPolicy(table))}
    res["optimum"] = optimum(trace, jobs, capacity, ctx)
    base = res["run-now"].carbon_kg
    opt = base - res["optimum"].carbon_kg
    cap = "unlimited" if capacity is None else f"{capacity}/zone"
    print(f"\n{name} — {len(jobs)} jobs, capacity {cap}")
    print(f"  {'policy':<9} {'carbon kg':>11} {'saving':>8} {'of optimum':>11} {'misses':>7}")
    shares = {}
    for key in ("run-now", "greedy", "rl", "optimum"):
        r = res[key]
        saving = base - r.carbon_kg
        share = 100 * saving / opt if opt > 0 else float("nan")
        shares[key] = share
        print(f"  {key:<9} {r.carbon_kg:11.1f} {100 * saving / base:7.2f}% {share:10.1f}% {r.deadline_misses:7d}")
    return shares


def main() -> int:
    t0 = time.perf_counter()
    full = load_trace()
    committed = load_policy()
    ne = full.select(("US-NE",))
    ne_jobs = generate_jobs(ne, ("US-NE",), seed=7, every_h=3.0)
    for cap in (None, 2):
        report("held-out zone US-NE (committed policy, trained on US-CAL + US-NW)", ne, ne_jobs, committed, cap)
    for zone in ("US-CAL", "US-NW"):  # the other two zones held out in turn, policies trained here
        others = tuple(z for z in full.zones if z != zone)
        sub = full.select(others)
        table = train(sub, generate_jobs(sub, others, seed=1, every_h=2.0, multi_zone=True))
        held = full.select((zone,))
        report(f"held-out zone {zone} (trained on {' + '.join(others)})", held,
               generate_jobs(held, (zone,), seed=7, every_h=3.0), table, None)

    utc = timezone.utc
    h1 = full.window(datetime(2020, 1, 1, tzinfo=utc), datetime(2020, 7, 1, tzinfo=utc))
    h2 = full.window(datetime(2020, 6, 23, tzinfo=utc), datetime(2021, 1, 1, tzinfo=utc))  # 8 days of history
    train_jobs = generate_jobs(h1, full.zones, seed=11, every_h=2.0, multi_zone=True)
    table = train(h1, train_jobs)
    test_jobs = generate_jobs(h2, full.zones, seed=12, every_h=3.0, multi_zone=True)
    for cap in (None, 2):
        report("held-out period Jul-Dec 2020, multi-zone jobs (policy trained on Jan-Jun)", h2, test_jobs, table, cap)
    print(f"\n(bench took {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
