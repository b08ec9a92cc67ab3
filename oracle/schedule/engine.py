"""The engine that runs an online policy hour by hour under deadlines and a capacity limit (`simulate`).

Capacity: at most `capacity` jobs running at once in each zone (None = unlimited).

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

import numpy as np

from oracle.errors import UsageError
from oracle.schedule.context import Context, JobView, Placement, ScheduleResult, place
from oracle.schedule.jobs import Job
from oracle.schedule.policies import Policy
from oracle.schedule.trace import CarbonTrace

GUARD_MARGIN_H = 2  # under capacity, waiting jobs' plan keeps this many hours before each latest start


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
            placements[v.job.id] = place(ctx, v, z, s, refused=True)
        pending.sort(key=lambda v: (v.latest, v.job.id))  # least slack first
        still: list[JobView] = []
        for v in pending:
            z = policy.decide(t, v, ctx)
            if z is not None and eng.try_start(v, z, t, guarded=True):
                placements[v.job.id] = place(ctx, v, z, t)
            else:
                still.append(v)
        for v, z in eng.relieve(t):
            placements[v.job.id] = place(ctx, v, z, t)
        still = [v for v in still if v.job.id not in placements]
        pending = []
        for v in still:  # reservations that are due: start there unless the plan can be re-packed later
            rz, rs = eng.plan[v.job.id]
            assert rs >= t, "a reservation in the past breaks the plan invariant"
            if rs == t and not eng.postpone(v, t):
                eng.release(v)
                eng.commit(rz, t, v.duration)
                placements[v.job.id] = place(ctx, v, rz, t)
            else:
                pending.append(v)
        t += 1
    return ScheduleResult(policy.name, [placements[v.job.id] for v in ctx.views])
