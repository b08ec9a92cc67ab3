"""When to send each proof (submission timing; nothing else is scheduled here): when `submit.max_defer_s` allows, a proof is sent in the greenest hour before its
deadline, chosen by oracle.schedule from a forecast made only from hours already past.

The grid signal is a recorded hourly carbon trace (oracle/schedule/data, real 2020 EIA-930 data) replayed onto
the current date: the node reads the same UTC month, day and hour of the trace year. It is labelled as a replay
in the log; a live intensity feed can replace `TraceGrid` behind the same two methods.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from oracle.errors import UsageError
from oracle.node.config import SubmitConfig
from oracle.node.schedule import EpochSchedule
from oracle.node.state import EpochRecord

log = logging.getLogger("ecoai.oracle")
HISTORY_HOURS = 24 * 14
# Keep this much of GreenProof's acceptance window unused: a submission must not race the stale-epoch limit.
SAFETY_S = 120


@dataclass
class TraceGrid:
    """Hourly intensity of one zone from a recorded trace, mapped onto the current year (a labelled replay)."""

    zone: str
    trace_path: str | None = None

    def __post_init__(self) -> None:
        from oracle.schedule.trace import DEFAULT_TRACE, load_trace

        self.trace = load_trace(self.trace_path or DEFAULT_TRACE)
        self.series = self.trace.series(self.zone)

    def to_trace_time(self, t: datetime) -> datetime:
        year = self.trace.start.year
        try:
            return t.replace(year=year)
        except ValueError:  # 29 February outside a leap trace year
            return t.replace(year=year, day=28)

    def greenest_send_time(self, now_s: float, deadline_s: float) -> float:
        """Unix time at which to submit: now, or the start of a greener forecast hour before the deadline."""
        from oracle.schedule.forecast import forecast, greenest_start
        from oracle.schedule.trace import floor_hour

        now = datetime.fromtimestamp(now_s, UTC)
        now_t = self.to_trace_time(now)
        hour = floor_hour(now_t)
        index = self.trace.index(hour)
        if index <= 0 or index >= self.trace.hours:
            return now_s  # outside the recorded year: no signal, no reason to wait
        history = self.series[max(0, index - HISTORY_HOURS) : index]  # only hours already past
        horizon = max(1, math.ceil((deadline_s - now_s) / 3600) + 1)
        predicted = forecast(history, horizon)
        deadline_t = now_t + timedelta(seconds=deadline_s - now_s)
        start_t = greenest_start(hour, list(predicted), now_t, deadline_t, duration_h=1 / 60)
        return now_s + (start_t - now_t).total_seconds()


def deferred_send_time(
    submit: SubmitConfig, schedule: EpochSchedule | int, max_epoch_age_s: int, grid: TraceGrid | None = None
) -> Callable[[EpochRecord], float] | None:
    """None (submit at once) unless submit.max_defer_s > 0; else a function giving each proof its send time,
    never later than GreenProof's acceptance window (`max_epoch_age_s` after the epoch's end) allows."""
    if submit.max_defer_s <= 0:
        return None
    if grid is None:
        try:
            grid = TraceGrid(submit.carbon_zone, submit.carbon_trace or None)
        except UsageError as exc:
            raise UsageError(f"config field submit.carbon_zone/carbon_trace: {exc}") from None
    log.info(
        "deferrable submission: up to %d s, greenest hour of zone %s (replayed 2020 trace, forecast from past "
        "hours only)",
        submit.max_defer_s,
        grid.zone,
    )
    decided: dict[int, float] = {}
    sched = schedule if isinstance(schedule, EpochSchedule) else EpochSchedule.fixed(schedule)

    def send_time(rec: EpochRecord) -> float:
        if rec.epoch not in decided:
            end = sched.bounds(rec.epoch)[1]
            deadline = min(end + submit.max_defer_s, end + max_epoch_age_s - SAFETY_S)
            now = datetime.now(UTC).timestamp()
            decided[rec.epoch] = now if deadline <= now else grid.greenest_send_time(now, deadline)
            if decided[rec.epoch] > now + 1:
                log.info(
                    "epoch %d: submission deferred to %s (greener forecast hour, deadline %s)",
                    rec.epoch,
                    datetime.fromtimestamp(decided[rec.epoch], UTC).isoformat(timespec="seconds"),
                    datetime.fromtimestamp(deadline, UTC).isoformat(timespec="seconds"),
                )
        return decided[rec.epoch]

    return send_time
