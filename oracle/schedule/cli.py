"""`ecoai schedule`: place deferrable jobs on a carbon trace with the RL policy, next to the baselines."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from oracle.cliargs import positive_int
from oracle.errors import UsageError
from oracle.schedule.jobs import load_jobs
from oracle.schedule.rl import POLICY_FILE, RLPolicy, load_policy
from oracle.schedule.context import Context, ScheduleResult
from oracle.schedule.engine import simulate
from oracle.schedule.optimum import optimum
from oracle.schedule.policies import GreedyForecast, RunNow
from oracle.schedule.trace import DEFAULT_TRACE, load_trace


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "schedule",
        help="carbon-aware plan for deferrable jobs (RL policy) with run-now, greedy and optimum carbon",
        description="Plans jobs hour by hour from forecasts built only from past hours of the trace, then counts "
        "carbon on the real trace. Prints the RL plan, its carbon and deadline misses, and the carbon of "
        "run-now, the greedy lowest-forecast window and the perfect-foresight optimum. Under --capacity every "
        "online policy keeps a feasible reservation plan for its waiting jobs, so an admitted job never misses "
        "its deadline; a job no plan can fit on arrival is refused (placed late, counted as a miss).",
    )
    p.add_argument("--trace", type=Path, default=DEFAULT_TRACE,
                   help="CSV timestamp,zone,carbon_g_per_kwh (default: the committed EIA-930 2020 trace)")
    p.add_argument("--jobs", type=Path, required=True, help="CSV id,submit,deadline,duration_h,power_kw,zones")
    p.add_argument("--capacity", type=positive_int, default=None,
                   help="max concurrent jobs per zone (default: unlimited)")
    p.add_argument("--policy", type=Path, default=POLICY_FILE, help="RL policy table (JSON)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=run_schedule)


def compare(trace_path: Path, jobs_path: Path, capacity: int | None, policy_path: Path) -> dict[str, Any]:
    trace = load_trace(trace_path)
    jobs = load_jobs(jobs_path)
    table = load_policy(policy_path)
    ctx = Context(trace, jobs)
    results: dict[str, ScheduleResult] = {}
    for policy in (RLPolicy(table), RunNow(), GreedyForecast()):
        results[policy.name] = simulate(trace, jobs, policy, capacity, ctx)
    try:
        results["optimum"] = optimum(trace, jobs, capacity, ctx)
        infeasible = None
    except UsageError as exc:  # no schedule meets every deadline: reported, the online plans still shown
        if not str(exc).startswith("no schedule meets every deadline"):
            raise
        infeasible = str(exc)
    base = results["run-now"].carbon_kg
    opt_saving = base - results["optimum"].carbon_kg if infeasible is None else 0.0

    def summary(r: ScheduleResult) -> dict[str, Any]:
        saving = base - r.carbon_kg
        return {
            "carbon_kg": round(r.carbon_kg, 6),
            "deadline_misses": r.deadline_misses,
            "refused_on_arrival": r.refused,
            "saving_vs_run_now_pct": round(100 * saving / base, 3) if base > 0 else 0.0,
            "share_of_optimum_saving_pct": round(100 * saving / opt_saving, 2) if opt_saving > 0 else None,
        }

    return {
        "policy": "rl",
        "plan": [
            {"id": p.job_id, "zone": p.zone, "start": p.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "carbon_kg": round(p.carbon_kg, 6), "missed_deadline": p.missed_deadline,
             "refused_on_arrival": p.refused}
            for p in results["rl"].placements
        ],
        "carbon_kg": round(results["rl"].carbon_kg, 6),
        "deadline_misses": results["rl"].deadline_misses,
        "refused_on_arrival": results["rl"].refused,
        "optimum_infeasible": infeasible,
        "baselines": {name: summary(r) for name, r in results.items()},
        "capacity": capacity,
        "trace": str(trace_path),
        "forecast": "seasonal (7-day same-hour mean) + decaying persistence, from past hours only",
    }


def run_schedule(args: argparse.Namespace) -> int:
    out = compare(args.trace, args.jobs, args.capacity, args.policy)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"RL plan ({len(out['plan'])} jobs, capacity {out['capacity'] or 'unlimited'} per zone):")
    for p in out["plan"]:
        flag = ("  MISSED DEADLINE" + (" (refused on arrival)" if p["refused_on_arrival"] else "")
                if p["missed_deadline"] else "")
        print(f"  {p['id']:<10} {p['zone']:<8} start {p['start']}  {p['carbon_kg']:10.3f} kg CO2e{flag}")
    print(f"RL: {out['carbon_kg']:.3f} kg CO2e, {out['deadline_misses']} deadline misses")
    if out["optimum_infeasible"]:
        print(f"infeasible instance: {out['optimum_infeasible']}")
    print("Policy      carbon (kg)   saving vs run-now   share of optimum's saving   misses  refused")
    for name, s in out["baselines"].items():
        share = "-" if s["share_of_optimum_saving_pct"] is None else f"{s['share_of_optimum_saving_pct']:.1f} %"
        print(f"  {name:<9} {s['carbon_kg']:12.3f} {s['saving_vs_run_now_pct']:15.2f} % {share:>22} "
              f"{s['deadline_misses']:>9} {s['refused_on_arrival']:>8}")
    return 0
