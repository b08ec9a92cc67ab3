"""CPU energy *estimated* from utilisation × TDP, for machines where RAPL is not readable.

Power = TDP × utilisation (system-wide busy fraction from the first line of /proc/stat, read directly;
psutil only off Linux). The readings are labelled `estimated`, and the method says where the TDP came from:
our table (`util_x_tdp`), the caller (`util_x_given_tdp`), or CodeCarbon's 85 W default for CPUs our table
lacks (`util_x_default_tdp`).
"""

from __future__ import annotations

import os
import time
from collections import namedtuple
from collections.abc import Callable
from typing import Any

import psutil

from oracle.measure.reading import Item, Reading
from oracle.measure.tdp import DEFAULT_CPU_TDP_W, cpu_model_name, cpu_tdp


_Times = namedtuple("_Times", ["user", "idle"])


def process_cpu_times(process: psutil.Process | None = None,
                      clock: Callable[[], float] = time.monotonic) -> Callable[[], Any]:
    """A `psutil.cpu_times`-shaped callable whose busy time is this process's CPU time and whose total is
    cores × wall time: the estimate then attributes utilisation to one process (the profiler's), not to
    other users' load."""
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


def _busy_total(times: Any) -> tuple[float, float]:
    total = sum(times)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


class _ProcStat:
    """Busy and total jiffies from the first line of /proc/stat through one open descriptor: about 5x
    cheaper per tick than psutil.cpu_times(), which parses the whole file (matters at 10 Hz)."""

    def __init__(self) -> None:
        self._fd = os.open("/proc/stat", os.O_RDONLY)

    def __call__(self) -> tuple[float, float]:
        # cpu user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]; split
        # off only those first fields (the rest of the file is never parsed)
        f = os.pread(self._fd, 256, 0).split(None, 9)
        total = sum(map(int, f[1:9]))
        return total - int(f[4]) - int(f[5]), total

    def close(self) -> None:
        os.close(self._fd)


class CpuEstimateSource:
    name = "cpu"

    def __init__(self, tdp_w: float | None = None, model: str | None = None,
                 cpu_times: Callable[[], Any] | None = None) -> None:
        self.model = model or cpu_model_name()
        if tdp_w is not None:
            self.tdp_w, self.method, self.tdp_source = float(tdp_w), "util_x_given_tdp", "given"
        else:
            found = cpu_tdp(self.model)
            if found is not None:
                self.tdp_w, self.method, self.tdp_source = found.watts, "util_x_tdp", found.source
            else:
                self.tdp_w, self.method = DEFAULT_CPU_TDP_W, "util_x_default_tdp"
                self.tdp_source = f"default {DEFAULT_CPU_TDP_W:g} W ({self.model!r} not in cpu_tdp.csv)"
        self.device = f"cpu:{self.model}"
        self._proc_stat: _ProcStat | None = None
        if cpu_times is None:
            try:
                self._proc_stat = _ProcStat()
            except OSError:  # not Linux: psutil knows the platform's way
                cpu_times = psutil.cpu_times
        self._read: Callable[[], tuple[float, float]] = (
            self._proc_stat if self._proc_stat is not None else lambda: _busy_total(cpu_times()))  # type: ignore[misc]
        self._last: tuple[float, float, float] | None = None  # (t, busy, total)

    def devices(self) -> list[str]:
        return [self.device]

    def sample(self, now: float) -> list[Item]:
        busy, total = self._read()
        last, self._last = self._last, (now, busy, total)
        if last is None or now <= last[0]:
            return []
        d_total = total - last[2]
        util = min(1.0, max(0.0, (busy - last[1]) / d_total)) if d_total > 0 else 0.0
        energy_mj = self.tdp_w * util * (now - last[0]) * 1000.0
        return [Reading(last[0], now, self.device, self.name, self.method, "estimated", energy_mj,
                        {"util": util})]

    def close(self) -> None:
        if self._proc_stat is not None:
            self._proc_stat.close()
            self._proc_stat = None
