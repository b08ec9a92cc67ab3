"""Online placement policies for deferrable jobs in time and zone (asked hour by hour by oracle.schedule.engine).

Policies decide hour by hour from forecasts (oracle.schedule.forecast: built only from hours already past);
actual carbon is counted afterwards on the real trace (oracle.schedule.context).

- run-now: start at submit in the home zone (first zone listed); under capacity it queues.
- greedy: at submit, pick the (zone, start) whose forecast window mean is lowest (among those with room),
  never revised; it starts there, or as soon after as there is room.
- rl: a tabular Q-learned stopping policy (oracle.schedule.rl) asked every hour, for every waiting job,
  whether to start now (in the zone with the greenest forecast for the job's window) or wait; it re-reads
  the forecast every hour.
- optimum (oracle.schedule.optimum, not a policy): perfect foresight, the exact minimum under the same
  deadlines and capacity; the bound no forecast-based policy can beat.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from oracle.schedule.context import Context, JobView


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
