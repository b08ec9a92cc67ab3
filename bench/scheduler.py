"""Scheduler figures on held-out real carbon traces: RL vs run-now, greedy lowest-forecast window, optimum.

Run: .venv/bin/python bench/scheduler.py   (2-3 minutes on 2 cores)

Scenarios (trace: oracle/schedule/data/carbon_traces_2020.csv, real EIA-930 2020 data):
1. held-out zone: the committed policy (data/rl_policy.json, trained on US-CAL + US-NW) on US-NE, 2020,
   then each other zone held out in turn (policy trained here on the remaining two);
2. held-out period: a policy trained here on Jan-Jun 2020 (all zones, multi-zone jobs), evaluated on
   Jul-Dec 2020 with multi-zone jobs (time and zone shifting);
3. a tight one: US-NE, July 2020, a job every 2 h on average at 2 per zone, and every 5 h at 1 per zone.
Each with unlimited capacity and with a capacity of 2 jobs per zone. Figures: carbon (kg CO2e), saving
against run-now, share of the optimum's saving, deadline misses and, of those, jobs refused on arrival (no
plan fitted them around the jobs already started). Goal: RL >= 90 % of the optimum's saving, 0 misses.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from oracle.errors import UsageError  # noqa: E402
from oracle.schedule.jobs import generate_jobs  # noqa: E402
from oracle.schedule.rl import RLPolicy, load_policy, train  # noqa: E402
from oracle.schedule.context import Context  # noqa: E402
from oracle.schedule.engine import simulate  # noqa: E402
from oracle.schedule.optimum import optimum  # noqa: E402
from oracle.schedule.policies import GreedyForecast, RunNow  # noqa: E402
from oracle.schedule.trace import load_trace  # noqa: E402

ROWS: list[str] = []


def report(name: str, trace, jobs, table, capacity) -> None:  # type: ignore[no-untyped-def]
    ctx = Context(trace, jobs)
    res = {p.name: simulate(trace, jobs, p, capacity, ctx) for p in (RunNow(), GreedyForecast(), RLPolicy(table))}
    cap = "unlimited" if capacity is None else f"{capacity}/zone"
    print(f"\n{name} — {len(jobs)} jobs, capacity {cap}")
    try:
        res["optimum"] = optimum(trace, jobs, capacity, ctx)
    except UsageError as exc:  # reported separately: no policy can meet every deadline
        print(f"  INFEASIBLE instance (the optimum misses too): {exc}")
    base = res["run-now"].carbon_kg
    opt = base - res["optimum"].carbon_kg if "optimum" in res else float("nan")
    print(f"  {'policy':<9} {'carbon kg':>11} {'saving':>8} {'of optimum':>11} {'misses':>7} {'refused':>8}")
    for key in ("run-now", "greedy", "rl", "optimum"):
        if key not in res:
            continue
        r = res[key]
        saving = base - r.carbon_kg
        share = 100 * saving / opt if opt > 0 else float("nan")
        print(f"  {key:<9} {r.carbon_kg:11.1f} {100 * saving / base:7.2f}% {share:10.1f}% {r.deadline_misses:7d} "
              f"{r.refused:8d}")
    share = lambda k: 100 * (base - res[k].carbon_kg) / opt if opt > 0 else float("nan")  # noqa: E731
    ROWS.append(f"  {name[:58]:<58} {cap:>9} {share('greedy'):7.1f}% {share('rl'):7.1f}% "
                f"{res['greedy'].deadline_misses:>4}/{res['rl'].deadline_misses:<4} "
                f"{res['run-now'].deadline_misses:>4}")


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
        held_jobs = generate_jobs(held, (zone,), seed=7, every_h=3.0)
        for cap in (None, 2):
            report(f"held-out zone {zone} (trained on {' + '.join(others)})", held, held_jobs, table, cap)

    utc = timezone.utc
    h1 = full.window(datetime(2020, 1, 1, tzinfo=utc), datetime(2020, 7, 1, tzinfo=utc))
    h2 = full.window(datetime(2020, 6, 23, tzinfo=utc), datetime(2021, 1, 1, tzinfo=utc))  # 8 days of history
    train_jobs = generate_jobs(h1, full.zones, seed=11, every_h=2.0, multi_zone=True)
    table = train(h1, train_jobs)
    test_jobs = generate_jobs(h2, full.zones, seed=12, every_h=3.0, multi_zone=True)
    for cap in (None, 2):
        report("held-out period Jul-Dec 2020, multi-zone jobs (policy trained on Jan-Jun)", h2, test_jobs, table, cap)

    july = full.window(datetime(2020, 6, 20, tzinfo=utc), datetime(2020, 7, 20, tzinfo=utc)).select(("US-NE",))
    for every, cap in ((2.0, 2), (5.0, 1)):
        for seed in range(4):
            report(f"tight: US-NE July, a job every {every:g} h, seed {seed} (committed policy)", july,
                   generate_jobs(july, ("US-NE",), seed=seed, every_h=every), committed, cap)

    print("\nSummary (share of the optimum's saving; deadline misses greedy/RL, run-now):")
    print(f"  {'scenario':<58} {'capacity':>9} {'greedy':>8} {'RL':>8} {'misses':>9} {'run-now':>4}")
    print("\n".join(ROWS))
    print(f"\n(bench took {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
