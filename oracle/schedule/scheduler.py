"""Carbon-aware placement of deferrable jobs in time and zone, under deadlines and a capacity limit.

Policies decide hour by hour from forecasts (oracle.schedule.forecast: built only from hours already past);
actual carbon is counted afterwards on the real trace. Capacity: at most `capacity` jobs running at once in
each zone (None = unlimited). Carbon of a job = power_kw × Σ intensity over its hours (g), reported in kg.

- run-now: start at submit in the home zone (first zone listed).
- greedy: at submit, commit to the (zone, start) whose forecast window mean is lowest, never revised.
- rl: a tabular Q-learned stopping policy (oracle.schedule.rl) asked every hour, for every waiting job,
  whether to start now (in the zone with the greenest forecast for the job's window) or wait; it re-reads
  the forecast every hour.
- optimum: perfect foresight (the real trace), the exact minimum under the same deadlines and capacity
  (a MILP solved with HiGHS through SciPy); the bound no forecast-based policy can beat.

Waiting safely under capacity: for online policies without a plan of their own (run-now, rl) the engine
reserves each job a last-resort slot at its latest feasible start; the job starts there at the latest. When
a new job's window has no room for such a slot, waiting jobs whose slots block it are started at once
(earliest deadline first) to make room; a job that still gets none starts at the first hour with room.
A job that cannot start by its latest start (capacity full everywhere it may run) starts as soon as it can
and counts as a deadline miss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np

from oracle.errors import UsageError
from oracle.schedule.forecast import forecast_matrix
from oracle.schedule.jobs import Job
from oracle.schedule.trace import CarbonTrace

MAX_HORIZON_H = 7 * 24


@dataclass(frozen=True, slots=True)
class Placement:
    job_id: str
    zone: str
    start: datetime
    carbon_kg: float
    missed_deadline: bool


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    policy: str
    placements: list[Placement]

    @property
    def carbon_kg(self) -> float:
        return float(sum(p.carbon_kg for p in self.placements))

    @property
    def deadline_misses(self) -> int:
        return sum(p.missed_deadline for p in self.placements)


@dataclass(frozen=True)
class JobView:
    """A job on the trace's hour axis."""

    job: Job
    earliest: int
    latest: int
    duration: int
    zones: tuple[int, ...]


class Context:
    """What a policy may look at: forecasts made at each hour from the past, and the job's geometry.

    The real trace is kept only to count carbon once a job has started; policies never read it."""

    def __init__(self, trace: CarbonTrace, jobs: Sequence[Job]) -> None:
        if not jobs:
            raise UsageError("no jobs to schedule")
        self.trace = trace
        self.views = [self._view(j) for j in jobs]
        horizon = max(v.latest - v.earliest + v.duration for v in self.views) + 1
        if horizon > MAX_HORIZON_H:
            raise UsageError(f"a job's window is longer than {MAX_HORIZON_H} h; split it")
        used = sorted({z for v in self.views for z in v.zones})
        self.forecasts = {z: forecast_matrix(trace.values[z], horizon) for z in used}
        self._forecast_cumsum = {
            z: np.concatenate([np.zeros((f.shape[0], 1)), np.cumsum(f, axis=1)], axis=1)
            for z, f in self.forecasts.items()
        }
        self._actual_cumsum = np.concatenate(
            [np.zeros((trace.values.shape[0], 1)), np.cumsum(np.nan_to_num(trace.values), axis=1)], axis=1)
        self._nan_cumsum = np.concatenate(
            [np.zeros((trace.values.shape[0], 1)), np.cumsum(np.isnan(trace.values), axis=1)], axis=1)

    def _view(self, job: Job) -> JobView:
        zones = tuple(self.trace.zone_index(z) for z in job.zones)
        earliest, latest = self.trace.index(job.earliest), self.trace.index(job.latest)
        if earliest < 0 or latest + job.duration_h > self.trace.hours:
            raise UsageError(f"job {job.id}: its window {job.earliest.isoformat()} .. {job.deadline.isoformat()} "
                             f"is outside the trace ({self.trace.start.isoformat()} + {self.trace.hours} h)")
        return JobView(job, earliest, latest, job.duration_h, zones)

    def actual_sum(self, zone: int, start: int, duration: int) -> float:
        """Σ real intensity over [start, start+duration) (NaN when the trace has a gap there)."""
        if self._nan_cumsum[zone, start + duration] - self._nan_cumsum[zone, start] > 0:
            return float("nan")
        return float(self._actual_cumsum[zone, start + duration] - self._actual_cumsum[zone, start])

    def forecast_sums(self, t: int, view: JobView, zone: int) -> np.ndarray:
        """Forecast (made at hour t) of Σ intensity for each start s = t .. view.latest (just t when late)."""
        c = self._forecast_cumsum[zone][t]
        n = max(1, view.latest - t + 1)
        return c[view.duration: view.duration + n] - c[:n]


class Policy(Protocol):
    name: str

    def on_submit(self, t: int, view: JobView, ctx: Context, free: np.ndarray) -> None: ...

    def decide(self, t: int, view: JobView, ctx: Context) -> int | None:
        """Zone (trace index) to start the job in now, or None to wait."""
        ...

    def holds(self, t: int, view: JobView) -> bool:
        """Whether capacity was already reserved for this job starting at hour t."""
        ...

    def holds_plan(self, view: JobView) -> bool:
        """Whether the policy reserved capacity for the job itself at submit (else the engine keeps a
        last-resort slot at its latest start, so that waiting never causes a miss)."""
        ...


class RunNow:
    name = "run-now"

    def on_submit(self, t: int, view: JobView, ctx: Context, free: np.ndarray) -> None:
        return None

    def holds(self, t: int, view: JobView) -> bool:
        return False

    def holds_plan(self, view: JobView) -> bool:
        return False

    def decide(self, t: int, view: JobView, ctx: Context) -> int | None:
        return view.zones[0]


class GreedyForecast:
    """At submit, the (zone, start) with the lowest forecast window among those with capacity; fixed after."""

    name = "greedy"

    def __init__(self) -> None:
        self.plan: dict[str, tuple[int, int]] = {}
        self.reserved: set[str] = set()

    def on_submit(self, t: int, view: JobView, ctx: Context, free: np.ndarray) -> None:
        best: tuple[float, int, int] | None = None
        for z in view.zones:
            sums = ctx.forecast_sums(t, view, z)
            for k in np.argsort(sums, kind="stable"):
                s = t + int(k)
                if np.isnan(sums[k]):
                    continue
                if free[z, s: s + view.duration].min() > 0:
                    if best is None or (sums[k], s) < (best[0], best[2]):
                        best = (float(sums[k]), z, s)
                    break
        if best is None:  # no room anywhere in its window: behaves like run-now from here
            self.plan[view.job.id] = (view.zones[0], t)
            return
        _, z, s = best
        self.plan[view.job.id] = (z, s)
        self.reserved.add(view.job.id)
        free[z, s: s + view.duration] -= 1

    def decide(self, t: int, view: JobView, ctx: Context) -> int | None:
        z, s = self.plan[view.job.id]
        return z if t >= s else None

    def holds(self, t: int, view: JobView) -> bool:
        return view.job.id in self.reserved and self.plan[view.job.id][1] == t

    def holds_plan(self, view: JobView) -> bool:
        return view.job.id in self.reserved


def simulate(trace: CarbonTrace, jobs: Sequence[Job], policy: Policy, capacity: int | None = None,
             ctx: Context | None = None) -> ScheduleResult:
    """Run an online policy hour by hour; count carbon on the real trace."""
    ctx = ctx or Context(trace, jobs)
    cap = 10**9 if capacity is None else capacity
    if cap < 1:
        raise UsageError("capacity must be >= 1 job per zone")
    horizon_end = max(v.latest + v.duration for v in ctx.views) + 24 * 8
    free = np.full((trace.values.shape[0], horizon_end + 1), cap, dtype=np.int64)
    order = sorted(ctx.views, key=lambda v: (v.earliest, v.job.id))
    pending: list[JobView] = []
    placements: dict[str, Placement] = {}
    nxt = 0
    t = order[0].earliest
    fallback: dict[str, tuple[int, int]] = {}  # job -> (zone, start) reserved so that waiting never misses
    while nxt < len(order) or pending:
        while nxt < len(order) and order[nxt].earliest <= t:
            v = order[nxt]
            policy.on_submit(t, v, ctx, free)
            if not policy.holds_plan(v):
                slot = _reserve_latest(free, v, t, ctx)
                if slot is None:  # window full: start waiting jobs now, earliest deadline first, to make room
                    slot = _make_room(free, v, t, ctx, pending, fallback, placements)
                if slot is not None:
                    fallback[v.job.id] = slot
            pending.append(v)
            nxt += 1
        pending = [w for w in pending if w.job.id not in placements]
        pending.sort(key=lambda v: (v.latest, v.job.id))  # least slack first
        still: list[JobView] = []
        for v in pending:
            fb = fallback.get(v.job.id)
            if fb is None and not policy.holds_plan(v):  # room may have freed up since the last hour
                fb = _reserve_latest(free, v, t, ctx)
                if fb is not None:
                    fallback[v.job.id] = fb
            z = policy.decide(t, v, ctx)
            # must start now: at its latest start; when its last-resort slot is due (that slot is freed
            # below, so at least that zone has room); or when no last-resort slot could be had (start at
            # the first hour with room rather than gamble on the deadline)
            forced = t >= v.latest or (fb is not None and fb[1] == t) or (fb is None and not policy.holds_plan(v))
            if z is None and not forced:
                still.append(v)
                continue
            if z is not None and policy.holds(t, v):  # capacity reserved earlier for exactly this start
                placements[v.job.id] = _place(ctx, v, z, t)
                continue
            if fb is not None:
                free[fb[0], fb[1]: fb[1] + v.duration] += 1
            candidates = [z] if z is not None else []
            if forced:  # about to miss: any allowed zone with room, greenest forecast first
                candidates += sorted((c for c in v.zones if c != z),
                                     key=lambda c: float(ctx.forecasts[c][t, : v.duration].sum()))
            for c in candidates:
                if t + v.duration > free.shape[1]:
                    raise UsageError(f"job {v.job.id} could not be placed within the trace")
                # hours the trace has no data for cannot be counted, so nothing starts over them
                if free[c, t: t + v.duration].min() > 0 and not np.isnan(ctx.actual_sum(c, t, v.duration)):
                    free[c, t: t + v.duration] -= 1
                    placements[v.job.id] = _place(ctx, v, c, t)
                    fallback.pop(v.job.id, None)
                    break
            else:
                if fb is not None:
                    free[fb[0], fb[1]: fb[1] + v.duration] -= 1
                still.append(v)
        pending = still
        t += 1
    return ScheduleResult(policy.name, [placements[v.job.id] for v in ctx.views])


def _reserve_latest(free: np.ndarray, v: JobView, t: int, ctx: Context) -> tuple[int, int] | None:
    """Reserve the latest start (any allowed zone) that has room, as a job's last resort; None if none has."""
    for s in range(v.latest, t - 1, -1):
        for z in v.zones:
            if free[z, s: s + v.duration].min() > 0 and not np.isnan(ctx.actual_sum(z, s, v.duration)):
                free[z, s: s + v.duration] -= 1
                return z, s
    return None


def _make_room(free: np.ndarray, v: JobView, t: int, ctx: Context, pending: list[JobView],
               fallback: dict[str, tuple[int, int]], placements: dict[str, Placement]) -> tuple[int, int] | None:
    """Admission control: start waiting jobs whose last-resort slots block v's window, until v gets one."""
    for w in sorted(pending, key=lambda j: (j.latest, j.job.id)):
        fb = fallback.get(w.job.id)
        if fb is None or w.job.id in placements or fb[0] not in v.zones:
            continue
        if fb[1] + w.duration <= v.earliest or fb[1] > v.latest + v.duration:
            continue  # its slot does not overlap v's window
        free[fb[0], fb[1]: fb[1] + w.duration] += 1
        for z in sorted(w.zones, key=lambda c: float(ctx.forecasts[c][t, : w.duration].sum())):
            if free[z, t: t + w.duration].min() > 0 and not np.isnan(ctx.actual_sum(z, t, w.duration)):
                free[z, t: t + w.duration] -= 1
                placements[w.job.id] = _place(ctx, w, z, t)
                del fallback[w.job.id]
                break
        else:
            free[fb[0], fb[1]: fb[1] + w.duration] -= 1
            continue
        slot = _reserve_latest(free, v, t, ctx)
        if slot is not None:
            return slot
    return None


def _place(ctx: Context, v: JobView, zone: int, t: int) -> Placement:
    if t + v.duration > ctx.trace.hours:
        raise UsageError(f"job {v.job.id} runs past the end of the trace")
    total = ctx.actual_sum(zone, t, v.duration)
    if np.isnan(total):
        raise UsageError(f"job {v.job.id}: the trace has no data for {ctx.trace.time(t).isoformat()} "
                         f"+{v.duration} h in {ctx.trace.zones[zone]}")
    return Placement(v.job.id, ctx.trace.zones[zone], ctx.trace.time(t), v.job.power_kw * total / 1000.0,
                     t > v.latest)


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
        placements.append(_place(ctx, ctx.views[j], z, s))
    return ScheduleResult("optimum", placements)
