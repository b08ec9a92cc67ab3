"""Energy meters for the profiler, as thin adapters over oracle.measure's sources (NVML, RAPL, CPU estimate).

A meter accumulates the readings of one source into a cumulative joule count and carries a method label
saying how the joules were obtained. A gap (source lost a device) raises: the profiler never fills one.
"""

from __future__ import annotations

import os
import time
from collections import namedtuple
from collections.abc import Callable
from typing import Any

import psutil

from oracle.errors import UsageError
from oracle.measure import Gap, Reading, SourceUnavailable, open_source
from oracle.measure.reading import EnergySource

_Times = namedtuple("_Times", ["user", "idle"])


def process_cpu_times(process: psutil.Process | None = None,
                      clock: Callable[[], float] = time.monotonic) -> Callable[[], Any]:
    """A `psutil.cpu_times`-shaped callable whose busy time is this process's CPU time and whose total is
    cores × wall time: utilisation attributed to the profiled process only, not to other users' load."""
    proc = process or psutil.Process(os.getpid())
    cores = psutil.cpu_count() or 1
    t0 = clock()
    first = proc.cpu_times()
    busy0 = first.user + first.system

    def times() -> _Times:
        cpu = proc.cpu_times()
        busy = cpu.user + cpu.system
        total = busy0 + cores * (clock() - t0)  # Δtotal = cores × Δwall, so Δbusy/Δtotal = utilisation
        return _Times(busy, max(0.0, total - busy))

    return times


class SourceMeter:
    """Cumulative joules from one oracle.measure source (summing its devices' readings)."""

    def __init__(self, source: EnergySource, method: str) -> None:
        self.source = source
        self.method = method
        self._joules = 0.0
        self.source.sample(time.time())  # the first call only primes the source

    def joules(self) -> float:
        for item in self.source.sample(time.time()):
            if isinstance(item, Gap):
                raise RuntimeError(f"energy gap on {item.device}: {item.reason}")
            if isinstance(item, Reading):
                self._joules += item.energy_mj / 1000.0
        return self._joules


def open_meter(spec: str = "auto") -> SourceMeter:
    """`nvml` | `rapl` | `cpu` | `auto` (NVML, else RAPL, else the CPU estimate) as a profiler meter."""
    order = ["nvml", "rapl", "cpu"] if spec == "auto" else [spec]
    if any(s not in ("nvml", "rapl", "cpu") for s in order):
        raise UsageError(f"unknown energy source {spec!r}: use auto, nvml, rapl or cpu")
    reasons = []
    for name in order:
        try:
            if name == "cpu":
                from oracle.measure.cpu import CpuEstimateSource

                src: EnergySource = CpuEstimateSource(cpu_times=process_cpu_times())
                cpu = src  # type: ignore[assignment]
                method = (f"estimated: CPU utilisation of this process x TDP ({cpu.method}, "  # type: ignore[attr-defined]
                          f"{cpu.tdp_w:g} W, {cpu.tdp_source}) via oracle.measure.cpu")  # type: ignore[attr-defined]
            else:
                src = open_source(name)
                method = {"nvml": "measured: NVML total-energy counter via oracle.measure.nvml",
                          "rapl": "measured: RAPL powercap counters via oracle.measure.rapl"}[name]
            return SourceMeter(src, method)
        except SourceUnavailable as exc:
            reasons.append(f"{name}: {exc}")
    raise UsageError("no energy source available (" + "; ".join(reasons) + ")")
