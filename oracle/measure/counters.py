"""Boundary reading of cumulative counters (energy counters and work counters): no 10 Hz polling needed.

A cumulative counter (NVML's total-energy counter, RAPL, a replayed trace, a work counter) gives the exact
increase over any span from two reads, so reading it at the N + 1 interval boundaries of each epoch gives the
same interval values as reading it ten times a second, at 64 reads per epoch instead of 10 per second. Only
sources that integrate power (NVML power integration, the CPU estimate) still need the 10 Hz `Sampler`;
`split_counter_sources` sorts them.

`CounterReader` wakes once per boundary (Event.wait until the boundary: no periodic wake-ups in between),
reads every source in turn and hands the readings, work readings and gaps to its sinks (the Store's sink).
A source that fails gives a gap, never a stall of the others. `health()` is the cheap check: one read of each
work counter now, run at start so that a wrong URL shows in the log at once instead of at the first boundary.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from oracle.conventions import N_INTERVALS
from oracle.measure.reading import Gap, WorkGap

log = logging.getLogger("ecoai.measure.counters")  # under "ecoai": the node's log file sees it
Boundaries = Callable[[float], float]


def interval_boundaries(epoch_seconds: float, n: int = N_INTERVALS, origin: float = 0.0) -> Boundaries:
    """next_boundary(t): the first interval boundary strictly after t, for epochs [origin + e·L, origin + (e+1)·L)
    cut into n equal intervals. Epoch ends come out exactly origin + e·L (no accumulated float error)."""
    if epoch_seconds <= 0 or n < 1:
        raise ValueError("epoch_seconds must be positive and n >= 1")
    width = epoch_seconds / n

    def boundary(k: int) -> float:
        e, i = divmod(k, n)
        return origin + e * epoch_seconds + i * width

    def next_boundary(t: float) -> float:
        k = math.floor((t - origin) / width)
        while boundary(k) <= t:
            k += 1
        while k > 0 and boundary(k - 1) > t:  # float edge: step back onto the first boundary after t
            k -= 1
        return boundary(k)

    return next_boundary


def split_counter_sources(sources: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """(counter sources: read at boundaries, polled sources: keep the 10 Hz sampler)."""
    counters = [s for s in sources if getattr(s, "cumulative", False)]
    return counters, [s for s in sources if not getattr(s, "cumulative", False)]


class CounterReader:
    """Reads counter sources at interval boundaries and hands what they return to sinks(items, now).

    For the oracle node (see docs/measurement.md):

        reader = CounterReader([*energy_counters, *work_sources], sinks=[store.sink],
                               boundaries=interval_boundaries(epoch_seconds))
        reader.start_background()                  # one read per boundary
        ...                                        # once reader.reached(t1):
        store.record_epoch(epoch, t0, t1, devices=..., work_counters=..., work_unit=...)

    Virtual clock (tests, fast replays): `reader.read(t)` for each boundary t, or `run_epoch(t0, t1)`.
    """

    def __init__(self, sources: Sequence[Any], sinks: Sequence[Callable[[list[Any], float], None]] = (), *,
                 boundaries: Boundaries | None = None) -> None:
        self.sources = list(sources)
        self.sinks = list(sinks)
        self.boundaries = boundaries
        self.last_read_time: float | None = None
        self.reads = 0
        self._stop = threading.Event()
        self._failing: set[str] = set()

    def devices(self) -> list[str]:
        return [d for s in self.sources for d in s.devices()]

    def health(self) -> dict[str, str]:
        """{counter: why not readable} for the sources that do not answer now (empty when all do). Only work
        sources are probed (an energy counter read would consume the interval it starts)."""
        problems = {}
        for s in self.sources:
            check = getattr(s, "health", None)
            if check is not None:
                problem = check()
                if problem is not None:
                    problems[s.name] = problem
        return problems

    def read(self, now: float) -> list[Any]:
        """One read of every source at `now`; the items go to every sink and are returned."""
        items: list[Any] = []
        for source in self.sources:
            try:
                got = source.sample(now)
            except Exception as exc:  # a broken adapter must not stop the others; its span becomes a gap
                since = self.last_read_time if self.last_read_time is not None else now
                work = hasattr(source, "unit")
                got = [(WorkGap(since, now, d, source.source, f"source error: {exc}") if work else
                        Gap(since, now, d, source.name, f"source error: {exc}")) for d in source.devices()]
            items.extend(got)
            failing = any(isinstance(it, (Gap, WorkGap)) for it in got)
            if failing != (source.name in self._failing):  # log changes of state only, not every boundary
                (self._failing.add if failing else self._failing.discard)(source.name)
                reasons = "; ".join(it.reason for it in got if isinstance(it, (Gap, WorkGap)))
                log.warning("counter %s: %s", source.name, reasons) if failing else log.info(
                    "counter %s readable again", source.name)
        self.last_read_time = now
        self.reads += 1
        for sink in self.sinks:
            sink(items, now)
        return items

    def reached(self, t: float) -> bool:
        """True once a read at or after `t` has been handed to the sinks (the node may then close up to t)."""
        return self.last_read_time is not None and self.last_read_time >= t - 1e-9

    def run_epoch(self, t0: float, t1: float, n: int = N_INTERVALS) -> list[Any]:
        """Virtual clock: read at t0 (unless already read there) and at the n boundaries after it, up to t1."""
        items: list[Any] = []
        if self.last_read_time is None or self.last_read_time < t0:
            items += self.read(t0)
        for k in range(1, n + 1):
            items += self.read(t0 + (t1 - t0) * k / n if k < n else t1)
        self.flush()
        return items

    def flush(self) -> None:
        """Have batching sinks commit (the Store: durably)."""
        for sink in self.sinks:
            flush = getattr(sink, "flush", None)
            if flush is not None:
                flush()

    def run_until(self, t_end: float) -> int:
        """Real time: read at every boundary up to and including the last one <= t_end; flush; returns reads."""
        if self.boundaries is None:
            raise ValueError("CounterReader needs boundaries= for real-time reading")
        self._stop.clear()
        return self._loop(t_end)

    def _loop(self, t_end: float) -> int:
        reads = 0
        clock, wait, stopped = time.time, self._stop.wait, self._stop.is_set
        assert self.boundaries is not None
        try:
            now = clock()
            if self.last_read_time is None:
                problems = self.health()
                for name, problem in problems.items():
                    log.warning("counter %s not readable at start: %s", name, problem)
                self.read(now)  # prime every counter
                reads += 1
            while not stopped():
                target = self.boundaries(self.last_read_time if self.last_read_time is not None else now)
                if target > t_end:
                    break
                # One wake-up per boundary. Event.wait ends at once on stop(); a short second wait absorbs an
                # early return of the timer so the read is never before its boundary.
                while (delay := target - clock()) > 0 and not stopped():
                    wait(delay)
                if stopped():
                    break
                self.read(clock())
                reads += 1
        finally:
            self.flush()
        return reads

    def start_background(self, until: float = float("inf")) -> threading.Thread:
        """Read in a daemon thread until stop() (or wall time `until`); join the thread after stop()."""
        if self.boundaries is None:
            raise ValueError("CounterReader needs boundaries= for real-time reading")
        self._stop.clear()
        thread = threading.Thread(target=self._loop, args=(until,), name="ecoai-counters", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        for source in self.sources:
            source.close()
