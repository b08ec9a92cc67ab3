"""What every scheduling policy and the optimum share: jobs on the trace's hour axis, forecasts, placements.

Carbon of a job = power_kw × Σ real intensity over its hours (g), reported in kg; policies see only forecasts
made from hours already past (oracle.schedule.forecast), the real trace only counts carbon afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

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



def place(ctx: Context, v: JobView, zone: int, t: int, refused: bool = False) -> Placement:
    """The placement of view `v` in `zone` from hour t, its carbon counted on the real trace."""
    if t + v.duration > ctx.trace.hours:
        raise UsageError(f"job {v.job.id} runs past the end of the trace")
    total = ctx.actual_sum(zone, t, v.duration)
    if np.isnan(total):
        raise UsageError(f"job {v.job.id}: the trace has no data for {ctx.trace.time(t).isoformat()} "
                         f"+{v.duration} h in {ctx.trace.zones[zone]}")
    return Placement(v.job.id, ctx.trace.zones[zone], ctx.trace.time(t), v.job.power_kw * total / 1000.0,
                     t > v.latest, refused)
