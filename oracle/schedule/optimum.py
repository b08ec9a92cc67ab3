"""Perfect-foresight optimum: the exact minimum carbon under the same deadlines and capacity (MILP, HiGHS via
SciPy) on the real trace; the bound no forecast-based policy can beat."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from oracle.errors import UsageError
from oracle.schedule.context import Context, ScheduleResult, place
from oracle.schedule.jobs import Job
from oracle.schedule.trace import CarbonTrace


def optimum(trace: CarbonTrace, jobs: Sequence[Job], capacity: int | None = None,
            ctx: Context | None = None, time_limit_s: float = 120.0) -> ScheduleResult:
    """Perfect-foresight minimum carbon under deadlines and capacity (MILP, HiGHS)."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    ctx = ctx or Context(trace, jobs)
    var: list[tuple[int, int, int]] = []  # (view index, zone, start)
    cost: list[float] = []
    for j, v in enumerate(ctx.views):
        n_before = len(var)
        for z in v.zones:
            for s in range(v.earliest, v.latest + 1):
                total = ctx.actual_sum(z, s, v.duration)
                if not np.isnan(total):
                    var.append((j, z, s))
                    cost.append(v.job.power_kw * total / 1000.0)
        if len(var) == n_before:
            raise UsageError(f"job {v.job.id}: the trace has no data for any start in its window")
    if capacity is None:
        best: dict[int, int] = {}
        for k, (j, _, _) in enumerate(var):
            if j not in best or cost[k] < cost[best[j]]:
                best[j] = k
        chosen = [best[j] for j in range(len(ctx.views))]
    else:
        rows, cols = [], []
        for k, (j, _, _) in enumerate(var):
            rows.append(j)
            cols.append(k)
        n_jobs = len(ctx.views)
        a_assign = coo_matrix((np.ones(len(var)), (rows, cols)), shape=(n_jobs, len(var)))
        slot: dict[tuple[int, int], int] = {}
        r2, c2 = [], []
        for k, (j, z, s) in enumerate(var):
            for h in range(s, s + ctx.views[j].duration):
                r = slot.setdefault((z, h), len(slot))
                r2.append(r)
                c2.append(k)
        a_cap = coo_matrix((np.ones(len(r2)), (r2, c2)), shape=(len(slot), len(var)))
        res = milp(
            c=np.array(cost),
            constraints=[LinearConstraint(a_assign.tocsr(), 1, 1), LinearConstraint(a_cap.tocsr(), 0, capacity)],
            integrality=np.ones(len(var)),
            bounds=Bounds(0, 1),
            options={"time_limit": time_limit_s},
        )
        if res.x is None:
            raise UsageError(f"no schedule meets every deadline with capacity {capacity} ({res.message})")
        picked = np.flatnonzero(res.x > 0.5)
        by_job = {var[k][0]: int(k) for k in picked}
        chosen = [by_job[j] for j in range(len(ctx.views))]
    placements = []
    for k in chosen:
        j, z, s = var[k]
        placements.append(place(ctx, ctx.views[j], z, s))
    return ScheduleResult("optimum", placements)
