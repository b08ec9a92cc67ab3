"""Carbon-aware placement of deferrable jobs in time and zone, under deadlines and a capacity limit.

Policies decide hour by hour from forecasts (oracle.schedule.forecast: built only from hours already past);
actual carbon is counted afterwards on the real trace. Capacity: at most `capacity` jobs running at once in
each zone (None = unlimited). Carbon of a job = power_kw × Σ intensity over its hours (g), reported in kg.

- run-now: start at submit in the home zone (first zone listed); under capacity it queues.
- greedy: at submit, pick the (zone, start) whose forecast window mean is lowest (among those with room),
  never revised; it starts there, or as soon after as there is room.
- rl: a tabular Q-learned stopping policy (oracle.schedule.rl) asked every hour, for every waiting job,
  whether to start now (in the zone with the greenest forecast for the job's window) or wait; it re-reads
  the forecast every hour.
- optimum: perfect foresight (the real trace), the exact minimum under the same deadlines and capacity
  (a MILP solved with HiGHS through SciPy); the bound no forecast-based policy can beat.

Deadlines under capacity (the same engine for every online policy): the engine keeps a *plan*, a
reservation (zone, start) inside its window for every job that waits, such that the plan and the jobs
already started never exceed capacity. The invariant is kept at every step:
- admission: a new job gets a place by re-packing all waiting jobs (earliest-deadline-first list packing,
  then shifted as late as possible); failing that, a free latest slot; failing that, an exact MILP
  feasibility check. Only when no plan exists around the jobs already running is the job refused: it is
  placed at the first hour with room and counted as a deadline miss (`refused`);
- a policy's "start now" is granted when the others keep a valid plan (re-packed if needed);
- a job whose reserved hour has come starts there, unless the others can be re-packed around it later.
So an admitted job never misses its deadline, whatever the policy; in particular when all jobs are known at
the first hour and the instance is feasible, no job misses. Online, a job can still be refused when jobs
that already started (irrevocably) leave it no room. To make that rare, waiting is guarded: the plan must
also keep one slot per hour free (capacity >= 2) or room for the tightest job seen so far arriving next
hour (capacity 1), with every waiting job placed GUARD_MARGIN_H hours before its latest start; a "start now"
that would break the guard is refused, and when arrivals break it, waiting jobs start now, earliest deadline
first, until it holds again (or nothing can start).
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
GUARD_MARGIN_H = 2  # under capacity, waiting jobs' plan keeps this many hours before each latest start


@dataclass(frozen=True, slots=True)
class Placement:
    job_id: str
    zone: str
    start: datetime
    carbon_kg: float
    missed_deadline: bool
    refused: bool = False  # no plan fitted it on arrival, around the jobs already started (online only)


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

    @property
    def refused(self) -> int:
        return sum(p.refused for p in self.placements)


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

    def on_submit(self, t: int, view: JobView, ctx: Context, free: np.ndarray) -> None:
        """Called once when the job arrives; `free[z, h]` = capacity left at hour h in zone z (read only)."""
        ...

    def decide(self, t: int, view: JobView, ctx: Context) -> int | None:
        """Zone (trace index) to start the job in now, or None to wait."""
        ...


class RunNow:
    name = "run-now"

    def on_submit(self, t: int, view: JobView, ctx: Context, free: np.ndarray) -> None:
        return None

    def decide(self, t: int, view: JobView, ctx: Context) -> int | None:
        return view.zones[0]


class GreedyForecast:
    """At submit, the (zone, start) with the lowest forecast window among those with room; fixed after."""

    name = "greedy"

    def __init__(self) -> None:
        self.plan: dict[str, tuple[int, int]] = {}

    def on_submit(self, t: int, view: JobView, ctx: Context, free: np.ndarray) -> None:
        best: tuple[float, int, int] | None = None  # (forecast Σ, start, zone)
        fallback: tuple[float, int, int] | None = None  # greenest ignoring capacity
        for z in view.zones:
            sums = ctx.forecast_sums(t, view, z)
            for k in np.argsort(sums, kind="stable"):
                if np.isnan(sums[k]):
                    continue
                s = t + int(k)
                if fallback is None or (sums[k], s) < fallback[:2]:
                    fallback = (float(sums[k]), s, z)
                if free[z, s: s + view.duration].min() > 0:
                    if best is None or (sums[k], s) < best[:2]:
                        best = (float(sums[k]), s, z)
                    break
        pick = best or fallback
        self.plan[view.job.id] = (view.zones[0], t) if pick is None else (pick[2], pick[1])

    def decide(self, t: int, view: JobView, ctx: Context) -> int | None:
        z, s = self.plan[view.job.id]
        return z if t >= s else None


class _Virtual(JobView):
    """A job that could arrive next hour (the tightest seen so far): the room the plan keeps for it."""


class _Engine:
    """Capacity bookkeeping for `simulate`: jobs started (irrevocable) and the plan of waiting jobs.

    `base[z, h]` = capacity left after started jobs; `free` = `base` minus the plan's reservations.
    Invariant: every waiting job holds a reservation inside [now, its latest start] and `free >= 0`.
    With `guard` (a capacity limit), waiting is allowed only while the plan also fits one virtual job per
    zone arriving next hour with the longest duration and the shortest slack seen so far."""

    def __init__(self, ctx: Context, cap: int, hours: int, guard: bool) -> None:
        self.ctx = ctx
        self.cap = cap
        self.guard = guard
        zones = ctx.trace.values.shape[0]
        self.base = np.full((zones, hours), cap, dtype=np.int64)
        self.free = self.base.copy()
        self.plan: dict[str, tuple[int, int]] = {}
        self.views: dict[str, JobView] = {}
        self._ok: dict[tuple[int, int], np.ndarray] = {}  # (zone, duration) -> start has trace data
        self.dmax, self.smin, self.zones_seen = 0, 10**9, set[int]()

    def usable(self, z: int, s: int, d: int) -> bool:
        """Whether the trace has data for [s, s+d) in zone z (unknown hours cannot be counted)."""
        key = (z, d)
        if key not in self._ok:
            ok = np.zeros(self.base.shape[1], dtype=bool)
            n = max(0, min(self.ctx.trace.hours - d + 1, len(ok)))
            nan = self.ctx._nan_cumsum[z]
            ok[:n] = (nan[d: d + n] - nan[:n]) == 0
            self._ok[key] = ok
        return bool(self._ok[key][s])

    def fits(self, free: np.ndarray, w: JobView, z: int, s: int) -> bool:
        if s + w.duration > free.shape[1] or free[z, s: s + w.duration].min() <= 0:
            return False
        return isinstance(w, _Virtual) or self.usable(z, s, w.duration)

    def reserve(self, v: JobView, z: int, s: int) -> None:
        self.plan[v.job.id] = (z, s)
        self.views[v.job.id] = v
        self.free[z, s: s + v.duration] -= 1

    def release(self, v: JobView) -> tuple[int, int]:
        z, s = self.plan.pop(v.job.id)
        del self.views[v.job.id]
        self.free[z, s: s + v.duration] += 1
        return z, s

    def commit(self, z: int, s: int, d: int) -> None:
        """A job starts (or is fixed) at (z, s): irrevocable."""
        self.base[z, s: s + d] -= 1
        self.free[z, s: s + d] -= 1

    def waiting(self) -> list[JobView]:
        return [self.views[k] for k in self.plan]

    def virtuals(self, t: int) -> list[JobView]:
        if not self.guard or not self.zones_seen:
            return []
        return [_Virtual(self._virtual_job(z), t + 1, t + 1 + self.smin, self.dmax, (z,))
                for z in sorted(self.zones_seen)]

    def _virtual_job(self, z: int) -> Job:
        # an id no real job has: plans are keyed by job id
        first = self.ctx.views[0].job
        return Job(f"\x00virtual:{self.ctx.trace.zones[z]}", first.submit, first.deadline, self.dmax, 0.0,
                   (self.ctx.trace.zones[z],))

    def safe(self, t: int, waiting: list[JobView], base: np.ndarray | None = None,
             not_before: dict[str, int] | None = None) -> dict[str, tuple[int, int]] | None:
        """A plan for `waiting` that also fits the virtual jobs (the plan returned is for `waiting` only)."""
        base = self.base if base is None else base
        if self.cap >= 2:  # one slot per hour kept free
            plan = self.repack(waiting, not_before or {}, t, base=np.minimum(base, self.cap - 1), cut=GUARD_MARGIN_H)
        else:  # the only slot: keep room for the tightest job that could arrive next hour
            plan = self.repack(waiting + self.virtuals(t), not_before or {}, t, base=base, cut=GUARD_MARGIN_H)
        if plan is None:
            return None
        return {w.job.id: plan[w.job.id] for w in waiting}

    def latest_free(self, v: JobView, t: int) -> tuple[int, int] | None:
        for s in range(v.latest, max(t, v.earliest) - 1, -1):
            for z in v.zones:
                if self.fits(self.free, v, z, s):
                    return z, s
        return None

    def admit(self, v: JobView, t: int) -> bool:
        """Give the new job a reservation, re-packing the plan if needed (with the guard's room if possible,
        else without; exactly, by MILP, before refusing). False: no plan exists."""
        self.dmax, self.smin = max(self.dmax, v.duration), min(self.smin, v.latest - v.earliest)
        self.zones_seen.update(v.zones)
        waiting = self.waiting() + [v]
        plan = self.safe(t, waiting) if self.guard else None
        if plan is None:
            slot = self.latest_free(v, t)
            if slot is not None:
                self.reserve(v, *slot)
                return True
            plan = self.repack(waiting, {}, t, exact=True)
        if plan is None:
            return False
        self.adopt(waiting, plan)
        return True

    def adopt(self, waiting: list[JobView], plan: dict[str, tuple[int, int]]) -> None:
        for w in waiting:
            if w.job.id in self.plan:
                self.release(w)
        for w in waiting:
            self.reserve(w, *plan[w.job.id])

    def repack(self, waiting: list[JobView], not_before: dict[str, int], t: int,
               exact: bool = False, base: np.ndarray | None = None, cut: int = 0
               ) -> dict[str, tuple[int, int]] | None:
        """A plan for `waiting` on top of the started jobs (`base`), each job starting in
        [max(t, earliest, not_before), latest]: earliest-deadline-first packing shifted as late as possible;
        with `exact`, a MILP decides when the heuristic finds none."""
        base = self.base if base is None else base
        lo = {w.job.id: max(t, w.earliest, not_before.get(w.job.id, t)) for w in waiting}
        if any(lo[w.job.id] > w.latest for w in waiting):
            return None
        hi = {w.job.id: w.latest if isinstance(w, _Virtual) else max(lo[w.job.id], w.latest - cut)
              for w in waiting}
        free = base.copy()
        plan: dict[str, tuple[int, int]] = {}
        for w in sorted(waiting, key=lambda j: (j.latest, -j.duration, j.job.id)):
            slot = next(((z, s) for s in range(lo[w.job.id], hi[w.job.id] + 1) for z in w.zones
                         if self.fits(free, w, z, s)), None)
            if slot is None:
                break
            plan[w.job.id] = slot
            free[slot[0], slot[1]: slot[1] + w.duration] -= 1
        else:
            for w in sorted(waiting, key=lambda j: (-j.latest, j.job.id)):  # shift right: room stays early
                z0, s0 = plan[w.job.id]
                free[z0, s0: s0 + w.duration] += 1
                slot = next(((z, s) for s in range(hi[w.job.id], s0 - 1, -1) for z in w.zones
                             if self.fits(free, w, z, s)), (z0, s0))
                plan[w.job.id] = slot
                free[slot[0], slot[1]: slot[1] + w.duration] -= 1
            return plan
        return self._exact(waiting, lo, base) if exact else None

    def _exact(self, waiting: list[JobView], lo: dict[str, int], base: np.ndarray
               ) -> dict[str, tuple[int, int]] | None:
        """Exact feasibility of the plan (MILP, HiGHS): a plan if one exists, else None."""
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_matrix

        var: list[tuple[int, int, int]] = []
        for j, w in enumerate(waiting):
            var += [(j, z, s) for z in w.zones for s in range(lo[w.job.id], w.latest + 1)
                    if self.usable(z, s, w.duration) and base[z, s: s + w.duration].min() > 0]
        if {j for j, _, _ in var} != set(range(len(waiting))):
            return None
        slot: dict[tuple[int, int], int] = {}
        r2, c2 = [], []
        for k, (j, z, s) in enumerate(var):
            for h in range(s, s + waiting[j].duration):
                r2.append(slot.setdefault((z, h), len(slot)))
                c2.append(k)
        limit = np.array([base[z, h] for z, h in slot], dtype=float)
        a_assign = coo_matrix((np.ones(len(var)), ([v[0] for v in var], range(len(var)))),
                              shape=(len(waiting), len(var)))
        a_cap = coo_matrix((np.ones(len(r2)), (r2, c2)), shape=(len(slot), len(var)))
        res = milp(c=np.zeros(len(var)), integrality=np.ones(len(var)), bounds=Bounds(0, 1),
                   constraints=[LinearConstraint(a_assign.tocsr(), 1, 1),
                                LinearConstraint(a_cap.tocsr(), 0, limit)],
                   options={"time_limit": 30.0})
        if res.x is None:  # infeasible (or no answer within the limit: treated as infeasible)
            return None
        return {waiting[j].job.id: (z, s) for k, (j, z, s) in enumerate(var) if res.x[k] > 0.5}

    def try_start(self, v: JobView, z: int, t: int, guarded: bool = False) -> bool:
        """Start waiting job v at (z, t) if the others keep a valid plan (re-packed if needed); `guarded`:
        a plan that also fits the virtual jobs."""
        if not self.usable(z, t, v.duration):
            return False
        own = self.release(v)
        if self.base[z, t: t + v.duration].min() > 0:
            base = self.base.copy()
            base[z, t: t + v.duration] -= 1
            others = self.waiting()
            if guarded and self.guard:
                plan = self.safe(t, others, base)
            elif ((self.base - self.free) <= base).all():  # the plan stays as it is
                plan = {w.job.id: self.plan[w.job.id] for w in others}
            else:
                plan = self.repack(others, {}, t, base=base)
            if plan is not None:
                self.commit(z, t, v.duration)
                self.adopt(others, plan)
                return True
        self.reserve(v, *own)
        return False

    def relieve(self, t: int) -> list[tuple[JobView, int]]:
        """When the plan no longer fits the virtual jobs, start waiting jobs now (earliest deadline first,
        greenest forecast zone with room) until it does, or none can start now."""
        started: list[tuple[JobView, int]] = []
        if not self.guard:
            return started
        for w in sorted(self.waiting(), key=lambda j: (j.latest, j.job.id)):
            others = self.waiting()
            plan = self.safe(t, others)
            if plan is not None:
                self.adopt(others, plan)
                return started
            for z in sorted(w.zones, key=lambda c: float(self.ctx.forecasts[c][t, : w.duration].sum())):
                if self.try_start(w, z, t):
                    started.append((w, z))
                    break
        return started

    def postpone(self, v: JobView, t: int) -> bool:
        """Move v's reservation (due at t) later by re-packing the plan; False if it must start now."""
        if t >= v.latest:
            return False
        waiting = self.waiting()
        not_before = {w.job.id: t + 1 for w in waiting if self.plan[w.job.id][1] > t or w is v}
        if self.guard:
            plan = self.safe(t, waiting, not_before=not_before)
        else:
            plan = self.repack(waiting, not_before, t)
        if plan is None:
            return False
        self.adopt(waiting, plan)
        return True


def simulate(trace: CarbonTrace, jobs: Sequence[Job], policy: Policy, capacity: int | None = None,
             ctx: Context | None = None) -> ScheduleResult:
    """Run an online policy hour by hour; count carbon on the real trace (see the module docstring)."""
    ctx = ctx or Context(trace, jobs)
    if capacity is not None and capacity < 1:
        raise UsageError("capacity must be >= 1 job per zone")
    cap = len(ctx.views) + 1 if capacity is None else capacity  # more than the jobs: never binding
    hours = max(v.latest + v.duration for v in ctx.views) + 24 * 8
    eng = _Engine(ctx, cap, hours, guard=capacity is not None)
    order = sorted(ctx.views, key=lambda v: (v.earliest, v.job.id))
    pending: list[JobView] = []
    placements: dict[str, Placement] = {}
    nxt = 0
    t = order[0].earliest
    while nxt < len(order) or pending:
        while nxt < len(order) and order[nxt].earliest <= t:
            v = order[nxt]
            nxt += 1
            policy.on_submit(t, v, ctx, eng.free)
            if eng.admit(v, t):
                pending.append(v)
                continue
            # refused: no plan fits it around the started jobs; first hour with room, a counted miss
            slot = next(((z, s) for s in range(t, hours) for z in v.zones
                         if eng.fits(eng.free, v, z, s)), None)
            if slot is None:
                raise UsageError(f"job {v.job.id} could not be placed within the trace")
            z, s = slot
            eng.commit(z, s, v.duration)
            placements[v.job.id] = _place(ctx, v, z, s, refused=True)
        pending.sort(key=lambda v: (v.latest, v.job.id))  # least slack first
        still: list[JobView] = []
        for v in pending:
            z = policy.decide(t, v, ctx)
            if z is not None and eng.try_start(v, z, t, guarded=True):
                placements[v.job.id] = _place(ctx, v, z, t)
            else:
                still.append(v)
        for v, z in eng.relieve(t):
            placements[v.job.id] = _place(ctx, v, z, t)
        still = [v for v in still if v.job.id not in placements]
        pending = []
        for v in still:  # reservations that are due: start there unless the plan can be re-packed later
            rz, rs = eng.plan[v.job.id]
            assert rs >= t, "a reservation in the past breaks the plan invariant"
            if rs == t and not eng.postpone(v, t):
                eng.release(v)
                eng.commit(rz, t, v.duration)
                placements[v.job.id] = _place(ctx, v, rz, t)
            else:
                pending.append(v)
        t += 1
    return ScheduleResult(policy.name, [placements[v.job.id] for v in ctx.views])


def _place(ctx: Context, v: JobView, zone: int, t: int, refused: bool = False) -> Placement:
    if t + v.duration > ctx.trace.hours:
        raise UsageError(f"job {v.job.id} runs past the end of the trace")
    total = ctx.actual_sum(zone, t, v.duration)
    if np.isnan(total):
        raise UsageError(f"job {v.job.id}: the trace has no data for {ctx.trace.time(t).isoformat()} "
                         f"+{v.duration} h in {ctx.trace.zones[zone]}")
    return Placement(v.job.id, ctx.trace.zones[zone], ctx.trace.time(t), v.job.power_kw * total / 1000.0,
                     t > v.latest, refused)


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
